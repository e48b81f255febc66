package jsonl_test

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream/jsonl"
)

func TestParseRFC3339(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	good := []struct {
		in   string
		want time.Time
	}{
		{"2024-01-02T03:04:05Z", utc(2024, 1, 2, 3, 4, 5, 0)},
		{"2024-01-02t03:04:05z", utc(2024, 1, 2, 3, 4, 5, 0)},
		{"2024-01-02T03:04:05.250Z", utc(2024, 1, 2, 3, 4, 5, 250e6)},
		{"2024-01-02T03:04:05.123456789Z", utc(2024, 1, 2, 3, 4, 5, 123456789)},
		{"2024-01-02T03:04:05.1234567899999Z", utc(2024, 1, 2, 3, 4, 5, 123456789)}, // truncated
		{"2024-01-02T03:04:05+01:30", utc(2024, 1, 2, 1, 34, 5, 0)},
		{"2024-01-02T03:04:05-10:00", utc(2024, 1, 2, 13, 4, 5, 0)},
		{"2024-01-02T03:04:05+23:59", utc(2024, 1, 1, 3, 5, 5, 0)},
		{"2024-01-02T03:04:05-23:59", utc(2024, 1, 3, 3, 3, 5, 0)},
		{"2024-01-02T03:04:05-00:00", utc(2024, 1, 2, 3, 4, 5, 0)},
		{"2024-02-29T00:00:00Z", utc(2024, 2, 29, 0, 0, 0, 0)},
		{"2000-02-29T23:59:59Z", utc(2000, 2, 29, 23, 59, 59, 0)},
		{"0000-01-01T00:00:00Z", utc(0, 1, 1, 0, 0, 0, 0)},
		{"9999-12-31T23:59:59.999999999Z", utc(9999, 12, 31, 23, 59, 59, 999999999)},
	}
	for _, c := range good {
		t.Run(c.in, func(t *testing.T) {
			got, err := jsonl.ParseRFC3339(c.in)
			require.NoError(t, err)
			assert.True(t, got.Equal(c.want), "got %v, want %v", got, c.want)
			assert.Equal(t, time.UTC, got.Location())
			gotB, err := jsonl.ParseRFC3339([]byte(c.in))
			require.NoError(t, err)
			assert.Equal(t, got, gotB)
		})
	}
	bad := []struct{ in, reason string }{
		{"2024-01-02T18:00:01,250Z", "time offset"},
		{"2024-01-02T8:00:01-10:00", "hour"},
		{"2024-01-02T08:00:01+24:00", "offset hour"},
		{"2024-01-02T08:00:01-24:00", "offset hour"},
		{"2024-01-02T08:00:01+23:60", "offset minute"},
		{"2024-01-02T24:00:00Z", "hour"},
		{"2024-01-02T23:60:00Z", "minute"},
		{"2016-12-31T23:59:60Z", "leap second"},
		{"2024-01-02T23:59:61Z", "second"},
		{"2024-13-02T00:00:00Z", "month"},
		{"2024-00-02T00:00:00Z", "month"},
		{"2024-01-00T00:00:00Z", "day"},
		{"2023-02-29T00:00:00Z", "day"},
		{"1900-02-29T00:00:00Z", "day"},
		{"2024-04-31T00:00:00Z", "day"},
		{"2024-01-32T00:00:00Z", "day"},
		{"2024-01-02 03:04:05Z", `"T"`},
		{"2024-01-02T03:04:05", "too short"},
		{"2024-01-02T03:04:05.Z", "digit"},
		{"2024-01-02T03:04:05.", "digit"},
		{"2024-01-02T03:04:05.5", "no time offset"},
		{"2024-01-02T03:04:05+0100", "offset"},
		{"2024-01-02T03:04:05+01", "offset"},
		{"2024-01-02T03:04:05+01:00 ", "after"},
		{" 2024-01-02T03:04:05Z", "year"},
		{"2024-01-02T03:04:05ZZ", "after"},
		{"+024-01-02T03:04:05Z", "year"},
		{"20240-01-02T03:04:05Z", "separator"},
		{"2024-1-02T03:04:05.5Z", "separator"},
		{"2024/01/02T03:04:05Z", "separator"},
		{"2024-01-02T03.04.05Z", "separator"},
		{"2024-01-02T03:04:05UTC", "offset"},
		{"２０２４-01-02T03:04:05Z", "year"}, // fullwidth digits
		{"2024-01-02T03:04:05+1:00", "offset"},
		{"", "too short"},
	}
	for _, c := range bad {
		t.Run(c.in, func(t *testing.T) {
			_, err := jsonl.ParseRFC3339(c.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, jsonl.ErrNotRFC3339)
			assert.Contains(t, err.Error(), c.reason)
			assert.Contains(t, err.Error(), strconv.Quote(c.in))
		})
	}
}

func TestParseRFC3339DoesNotAllocate(t *testing.T) {
	s, b := "2024-01-02T03:04:05.123+01:00", []byte("2024-01-02T03:04:05.123+01:00")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = jsonl.ParseRFC3339(s) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = jsonl.ParseRFC3339(b) }))
}

// rfc3339Grammar is an independent reading of RFC 3339 §5.6 for the fuzz
// target: the ABNF as a regular expression, then the ranges of §5.7 checked
// with the time package's own calendar.
var rfc3339Grammar = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-]([0-9]{2}):([0-9]{2}))$`)

// grammarValid reports whether s is an RFC 3339 date-time that
// ParseRFC3339 must accept (no leap seconds).
func grammarValid(s string) bool {
	m := rfc3339Grammar.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	y, mo, d, h, mi, sec := n(1), n(2), n(3), n(4), n(5), n(6)
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return false
	}
	if time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() != d { // normalised: no such day
		return false
	}
	if m[9] != "" && (n(9) > 23 || n(10) > 59) {
		return false
	}
	return true
}

func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{
		"2024-01-02T03:04:05Z", "2024-01-02t03:04:05.5z", "2024-01-02T18:00:01,250Z",
		"2024-01-02T8:00:01-10:00", "2024-01-02T08:00:01+24:00", "2024-01-02T08:00:01-24:00",
		"2024-01-02T08:00:01+23:60", "2016-12-31T23:59:60Z", "2023-02-29T00:00:00Z",
		"2024-01-02T03:04:05.123456789123-23:59", "0000-01-01T00:00:00+00:01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := jsonl.ParseRFC3339(s)
		want := grammarValid(s)
		if (err == nil) != want {
			t.Fatalf("ParseRFC3339(%q): err = %v, grammar says valid = %v", s, err, want)
		}
		if err != nil {
			if !errors.Is(err, jsonl.ErrNotRFC3339) {
				t.Fatalf("ParseRFC3339(%q): error %v does not wrap ErrNotRFC3339", s, err)
			}
			return
		}
		// time.Parse agrees on every input the grammar accepts (it takes
		// uppercase "T" and "Z" only).
		ref, perr := time.Parse(time.RFC3339Nano, strings.NewReplacer("t", "T", "z", "Z").Replace(s))
		if perr != nil {
			t.Fatalf("ParseRFC3339(%q) = %v, but time.Parse fails: %v", s, got, perr)
		}
		if !got.Equal(ref) || got.Location() != time.UTC {
			t.Fatalf("ParseRFC3339(%q) = %v, time.Parse = %v", s, got, ref)
		}
		gotB, err := jsonl.ParseRFC3339([]byte(s))
		if err != nil || !gotB.Equal(got) {
			t.Fatalf("ParseRFC3339([]byte(%q)) = %v, %v; string form %v", s, gotB, err, got)
		}
	})
}

func ExampleParseRFC3339() {
	for _, s := range []string{
		"2024-03-01T18:00:01.250+01:00",
		"2024-03-01T18:00:01,250Z", // a comma fraction: ISO 8601, not RFC 3339
		"2024-03-01T18:00:01-24:00",
	} {
		t, err := jsonl.ParseRFC3339(s)
		fmt.Println(t, err)
	}
	// Output:
	// 2024-03-01 17:00:01.25 +0000 UTC <nil>
	// 0001-01-01 00:00:00 +0000 UTC "2024-03-01T18:00:01,250Z" not an RFC 3339 date-time: time offset is not "Z", "+hh:mm" or "-hh:mm"
	// 0001-01-01 00:00:00 +0000 UTC "2024-03-01T18:00:01-24:00" not an RFC 3339 date-time: offset hour is not 2 digits 00-23
}

func BenchmarkParseRFC3339(b *testing.B) {
	const s = "2024-01-02T03:04:05.123+01:00"
	b.Run("ParseRFC3339", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonl.ParseRFC3339(s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("baseline=time.Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
