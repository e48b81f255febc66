package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream/jsonl"
)

const goodLine = `{"event_id":"e-0000001","user_id":"u-004211","track_id":"jw-01","platform":"Spotify","event_time":"2026-11-27T18:00:00.250Z","ms_played":171000}`

func TestDecodePlayValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want Play
	}{
		{"the issue's example", goodLine, Play{EventID: "e-0000001", UserID: "u-004211", TrackID: "jw-01", Platform: "Spotify",
			EventTime: time.Date(2026, 11, 27, 18, 0, 0, 250e6, time.UTC), MsPlayed: 171000}},
		{"an offset is converted to UTC", `{"event_id":"a","user_id":"b","track_id":"c","platform":"d","event_time":"2026-11-27T19:30:00+01:30","ms_played":0}`,
			Play{EventID: "a", UserID: "b", TrackID: "c", Platform: "d", EventTime: time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)}},
		{"nanoseconds, unknown fields, any order, escapes", `{"x":[1,{"y":null}],"ms_played":5,"platform":"Tidal \u00e9\n","track_id":"jw-02","user_id":"u","event_id":"e","event_time":"1969-12-31T23:59:59.999999999Z"}`,
			Play{EventID: "e", UserID: "u", TrackID: "jw-02", Platform: "Tidal é\n", EventTime: time.Unix(0, -1).UTC(), MsPlayed: 5}},
		{"whitespace around the object", " \t" + goodLine + " ", Play{EventID: "e-0000001", UserID: "u-004211", TrackID: "jw-01", Platform: "Spotify",
			EventTime: time.Date(2026, 11, 27, 18, 0, 0, 250e6, time.UTC), MsPlayed: 171000}},
		{"the largest ms_played", strings.Replace(goodLine, "171000", "9223372036854775807", 1), Play{EventID: "e-0000001", UserID: "u-004211", TrackID: "jw-01", Platform: "Spotify",
			EventTime: time.Date(2026, 11, 27, 18, 0, 0, 250e6, time.UTC), MsPlayed: 1<<63 - 1}},
		{"an unknown track decodes (enrichment rejects it)", strings.Replace(goodLine, "jw-01", "jw-99", 1), Play{EventID: "e-0000001", UserID: "u-004211", TrackID: "jw-99", Platform: "Spotify",
			EventTime: time.Date(2026, 11, 27, 18, 0, 0, 250e6, time.UTC), MsPlayed: 171000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodePlay([]byte(tc.line))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, time.UTC, got.EventTime.Location())
		})
	}
}

func TestDecodePlayInvalid(t *testing.T) {
	t.Parallel()
	swap := func(old, new string) string { return strings.Replace(goodLine, old, new, 1) }
	tests := []struct {
		name, line, reason string
	}{
		{"empty line", "", "not a JSON object: empty line"},
		{"blank line", " \t ", "not a JSON object: empty line"},
		{"an array", `[1,2]`, "not a JSON object: found array"},
		{"a string", `"x"`, "not a JSON object: found string"},
		{"a number", `42`, "not a JSON object: found number"},
		{"null", `null`, "not a JSON object: found null"},
		{"truncated", goodLine[:40], "invalid JSON: unexpected end of JSON input"},
		{"trailing garbage", goodLine + "x", "invalid JSON: invalid character 'x' after top-level value"},
		{"two objects", goodLine + goodLine, "invalid JSON: invalid character '{' after top-level value"},
		{"missing event_id", swap(`"event_id":"e-0000001",`, ""), "missing event_id"},
		{"null user_id", swap(`"u-004211"`, "null"), "missing user_id"},
		{"empty track_id", swap(`"jw-01"`, `""`), "empty track_id"},
		{"numeric platform", swap(`"Spotify"`, "7"), "platform is not a string"},
		{"bad escape", swap(`"Spotify"`, `"Sp\x01"`), "invalid JSON: invalid character 'x' in string escape code"},
		{"raw control character", swap(`"Spotify"`, "\"Sp\x01\""), "invalid JSON: invalid character '\\x01' in string literal"},
		{"missing event_time", swap(`,"event_time":"2026-11-27T18:00:00.250Z"`, ""), "missing event_time"},
		{"event_time not a string", swap(`"2026-11-27T18:00:00.250Z"`, "1764266400"), "event_time is not a string"},
		{"event_time without zone", swap(`2026-11-27T18:00:00.250Z`, "2026-11-27T18:00:00.250"), `event_time "2026-11-27T18:00:00.250" is not RFC 3339`},
		{"event_time with a space", swap(`2026-11-27T18:00:00.250Z`, "2026-11-27 18:00:00Z"), `event_time "2026-11-27 18:00:00Z" is not RFC 3339`},
		{"event_time a date only", swap(`2026-11-27T18:00:00.250Z`, "2026-11-27"), `event_time "2026-11-27" is not RFC 3339`},
		{"event_time 25 o'clock", swap(`2026-11-27T18:00:00.250Z`, "2026-11-27T25:00:00Z"), `event_time "2026-11-27T25:00:00Z" is not RFC 3339`},
		{"event_time out of range", swap(`2026-11-27T18:00:00.250Z`, "9999-12-31T23:59:59Z"), `event_time "9999-12-31T23:59:59Z" is out of range (years 1678 to 2262)`},
		{"missing ms_played", swap(`,"ms_played":171000`, ""), "missing ms_played"},
		{"null ms_played", swap(`171000`, "null"), "missing ms_played"},
		{"negative ms_played", swap(`171000`, "-1"), "ms_played -1 is negative"},
		{"hugely negative ms_played", swap(`171000`, "-99999999999999999999"), "ms_played -99999999999999999999 is negative"},
		{"fractional ms_played", swap(`171000`, "171000.5"), "ms_played 171000.5 is not an integer"},
		{"integral float ms_played", swap(`171000`, "171000.0"), "ms_played 171000.0 is not an integer"},
		{"exponent ms_played", swap(`171000`, "1e5"), "ms_played 1e5 is not an integer"},
		{"too large ms_played", swap(`171000`, "9223372036854775808"), "ms_played 9223372036854775808 is too large"},
		{"string ms_played", swap(`171000`, `"171000"`), "ms_played is not a number"},
		{"bool ms_played", swap(`171000`, `true`), "ms_played is not a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodePlay([]byte(tc.line))
			require.Error(t, err)
			assert.Equal(t, tc.reason, err.Error())
		})
	}
}

func TestCheckTrack(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	assert.NoError(t, CheckTrack(cat, Play{TrackID: "jw-10"}))
	err := CheckTrack(cat, Play{TrackID: "jw-11"})
	assert.ErrorIs(t, err, ErrUnknownTrack)
	assert.Equal(t, `unknown track_id "jw-11"`, err.Error())
}

func TestAppendJSONRoundTrip(t *testing.T) {
	t.Parallel()
	p, err := DecodePlay([]byte(goodLine))
	require.NoError(t, err)
	assert.Equal(t, goodLine, string(AppendJSON(nil, p)), "the generator's format is the issue's format")

	odd := Play{EventID: "é\"\\\x00\t", UserID: "\xff", TrackID: "jw-01", Platform: "<b>", EventTime: time.Unix(1, 5).UTC(), MsPlayed: 3}
	line := AppendJSON(nil, odd)
	back, err := DecodePlay(line)
	require.NoError(t, err, "%s", line)
	odd.UserID = "\ufffd" // invalid UTF-8 is replaced
	assert.Equal(t, odd, back)
	assert.Contains(t, string(line), `"event_time":"1970-01-01T00:00:01.000000005Z"`)
}

// decodePlayMap is DecodePlay written the obvious way, through
// encoding/json into a map: the oracle FuzzDecodeEvent compares the
// hand-written field scanner with.
func decodePlayMap(line []byte) (Play, error) {
	if strings.Trim(string(line), " \t\r\n") == "" {
		return Play{}, errors.New("not a JSON object: empty line")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Play{}, fmt.Errorf("not a JSON object: found %s", te.Value)
		}
		return Play{}, fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if obj == nil {
		return Play{}, errors.New("not a JSON object: found null")
	}
	var p Play
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"event_id", &p.EventID}, {"user_id", &p.UserID}, {"track_id", &p.TrackID}, {"platform", &p.Platform}} {
		if *f.dst, err = (jsonl.Field{Key: f.name, Raw: obj[f.name]}).Text(); err == nil && *f.dst == "" {
			err = fmt.Errorf("empty %s", f.name)
		}
		if err != nil {
			return Play{}, err
		}
	}
	ts, err := (jsonl.Field{Key: "event_time", Raw: obj["event_time"]}).Text()
	if err != nil {
		return Play{}, err
	}
	t, err := jsonl.ParseRFC3339(ts) // stricter than time.Parse (a one-digit hour): FuzzParseRFC3339 compares the two
	if err != nil {
		return Play{}, fmt.Errorf("event_time %q is not RFC 3339", clip(ts))
	}
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return Play{}, fmt.Errorf("event_time %q is out of range (years 1678 to 2262)", ts)
	}
	p.EventTime = t.UTC()
	raw := obj["ms_played"]
	switch n, err := (jsonl.Field{Key: "ms_played", Raw: raw}).Int(); {
	case err == nil && n < 0, errors.Is(err, strconv.ErrRange) && raw[0] == '-':
		return Play{}, fmt.Errorf("ms_played %s is negative", clip(string(raw)))
	case err != nil:
		return Play{}, err
	default:
		p.MsPlayed = n
	}
	return p, nil
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(goodLine))
	f.Add([]byte(`{"event_id":"a","user_id":"b","track_id":"c","platform":"d","event_time":"2026-11-27T19:30:00+01:30","ms_played":0}`))
	f.Add([]byte(`{"ms_played":-0,"event_time":"1677-09-21T00:12:43.145224192Z"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"event_id":"\ud800"}`))
	f.Add([]byte(`{"event_id":"a","event\u005fid":"b","Event_ID":"c","user_id":"u","track_id":"t","platform":"p","event_time":"2026-11-27T18:00:00Z","ms_played":1,"x":{"y":["}",{"z":"]"}]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		p, err := DecodePlay(line)
		want, wantErr := decodePlayMap(line)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("DecodePlay and the map decoder disagree on %q:\n%v\n%v", line, err, wantErr)
		}
		if p != want {
			t.Fatalf("DecodePlay and the map decoder disagree on %q:\n%+v\n%+v", line, p, want)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if p.EventID == "" || p.UserID == "" || p.TrackID == "" || p.Platform == "" || p.MsPlayed < 0 {
			t.Fatalf("accepted an invalid play %+v", p)
		}
		// What decodes re-encodes to a line that decodes to the same play.
		again, err := DecodePlay(AppendJSON(nil, p))
		if err != nil {
			t.Fatalf("re-encoded play does not decode: %v", err)
		}
		if again != p {
			t.Fatalf("round trip changed the play:\n%+v\n%+v", p, again)
		}
	})
}

func TestLineReader(t *testing.T) {
	t.Parallel()
	type line struct {
		text    string
		tooLong int64
	}
	tests := []struct {
		name  string
		input string
		max   int
		want  []line
	}{
		{"plain", "a\nbb\n", 10, []line{{"a", 0}, {"bb", 0}}},
		{"no final newline", "a\nbb", 10, []line{{"a", 0}, {"bb", 0}}},
		{"CRLF", "a\r\nb\r\n", 10, []line{{"a", 0}, {"b", 0}}},
		{"blank lines count", "\n\na\n", 10, []line{{"", 0}, {"", 0}, {"a", 0}}},
		{"exactly max", "abcd\nx", 4, []line{{"abcd", 0}, {"x", 0}}},
		{"exactly max at EOF", "abcd", 4, []line{{"abcd", 0}}},
		{"one over max", "abcde\nx\n", 4, []line{{"abcd", 5}, {"x", 0}}},
		{"one over max at EOF", "x\nabcde", 4, []line{{"x", 0}, {"abcd", 5}}},
		{"empty input", "", 4, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lr := newLineReader(strings.NewReader(tc.input), tc.max)
			var got []line
			for {
				text, num, tooLong, err := lr.next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				got = append(got, line{string(text), tooLong})
				assert.Equal(t, int64(len(got)), num)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestLineReaderHugeLines reads lines far longer than bufio's buffer: one
// under the limit (decoded whole) and one over (reported, not buffered).
func TestLineReaderHugeLines(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 300<<10)
	huge := strings.Repeat("y", 3<<20)
	input := "a\n" + big + "\n" + huge + "\nb"
	lr := newLineReader(iotest.HalfReader(strings.NewReader(input)), 1<<20)
	var texts []string
	var longs []int64
	for {
		text, _, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		texts = append(texts, string(text))
		longs = append(longs, tooLong)
	}
	require.Len(t, texts, 4)
	assert.Equal(t, "a", texts[0])
	assert.Equal(t, big, texts[1])
	assert.Equal(t, 1<<20, len(texts[2]), "only the first max bytes are kept")
	assert.Equal(t, []int64{0, 0, 3 << 20, 0}, longs)
	assert.Equal(t, "b", texts[3])
	assert.LessOrEqual(t, cap(lr.buf), 2<<20, "a line over the limit is not buffered whole")
}

func TestLineSourceReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	src := NewLineSource(io.MultiReader(strings.NewReader(goodLine+"\n"), iotest.ErrReader(boom)), nil)
	var n int
	for range src.All() {
		n++
	}
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, src.Err(), boom)
}

func TestDeadLetterWriterNil(t *testing.T) {
	t.Parallel()
	var d *DeadLetterWriter
	assert.NoError(t, d.Write(1, "x", nil))
	assert.NoError(t, d.Flush())
}

func TestDeadLetterRawIsClipped(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	d := NewDeadLetterWriter(&buf)
	require.NoError(t, d.Write(7, "line too long", bytes.Repeat([]byte("z"), 10000)))
	require.NoError(t, d.Flush())
	assert.Equal(t, `{"line":7,"reason":"line too long","raw":"`+strings.Repeat("z", maxRawBytes)+`..."}`+"\n", buf.String())
}

func BenchmarkDecodePlay(b *testing.B) {
	line := []byte(goodLine)
	b.Run("DecodePlay", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodePlay(line); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	// The baseline: encoding/json into a struct with the same fields, and
	// the time parsed, with none of DecodePlay's checks.
	b.Run("encoding-json", func(b *testing.B) {
		var v struct {
			EventID   string `json:"event_id"`
			UserID    string `json:"user_id"`
			TrackID   string `json:"track_id"`
			Platform  string `json:"platform"`
			EventTime string `json:"event_time"`
			MsPlayed  int64  `json:"ms_played"`
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := json.Unmarshal(line, &v); err != nil {
				b.Fatal(err)
			}
			if _, err := time.Parse(time.RFC3339Nano, v.EventTime); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}
