package jsonl_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brook-streams/brook/stream/jsonl"
)

func TestMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		want       []string // raw values of "a" and "b"; "" for absent
		err        string
	}{
		{"both", `{"a":1,"b":"x"}`, []string{"1", `"x"`}, ""},
		{"any order, others skipped", ` {"z":[1,{"a":2}],"b":{"c":"}"},"a":null} `, []string{"null", `{"c":"}"}`}, ""},
		{"last one wins", `{"a":1,"a":2}`, []string{"2", ""}, ""},
		{"escaped key", `{"\u0061":true}`, []string{"true", ""}, ""},
		{"case-sensitive", `{"A":1}`, []string{"", ""}, ""},
		{"spaces inside", "{ \"a\" :\t-5 , \"b\"\n: \"q\\\"\" }", []string{"-5", `"q\""`}, ""},
		{"empty", "  ", nil, "not a JSON object: empty line"},
		{"array", `[1]`, nil, "not a JSON object: found array"},
		{"string", `"a"`, nil, "not a JSON object: found string"},
		{"bool", `false`, nil, "not a JSON object: found bool"},
		{"null", `null`, nil, "not a JSON object: found null"},
		{"number", `-1`, nil, "not a JSON object: found number"},
		{"truncated", `{"a":`, nil, "invalid JSON: unexpected end of JSON input"},
		{"two values", `{}{}`, nil, "invalid JSON: invalid character '{' after top-level value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := jsonl.Members([]byte(tc.line), "a", "b")
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, f, 2)
			for i, key := range []string{"a", "b"} {
				assert.Equal(t, key, f[i].Key)
				assert.Equal(t, tc.want[i], string(f[i].Raw), key)
				assert.Equal(t, tc.want[i] == "", f[i].Raw == nil, key)
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	t.Parallel()
	field := func(raw string) jsonl.Field {
		if raw == "" {
			return jsonl.Field{Key: "k"}
		}
		return jsonl.Field{Key: "k", Raw: []byte(raw)}
	}
	t.Run("Text", func(t *testing.T) {
		t.Parallel()
		for raw, want := range map[string]string{`"plain"`: "plain", `"\u00e9\n"`: "é\n", "\"\xff\"": "\ufffd", `""`: ""} {
			got, err := field(raw).Text()
			require.NoError(t, err, raw)
			assert.Equal(t, want, got, raw)
		}
		for raw, reason := range map[string]string{"": "missing k", "null": "missing k", "7": "k is not a string", "[]": "k is not a string"} {
			_, err := field(raw).Text()
			assert.EqualError(t, err, reason, raw)
		}
	})
	t.Run("Int", func(t *testing.T) {
		t.Parallel()
		for raw, want := range map[string]int64{"0": 0, "-3": -3, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63} {
			got, err := field(raw).Int()
			require.NoError(t, err, raw)
			assert.Equal(t, want, got, raw)
		}
		for raw, reason := range map[string]string{
			"": "missing k", "null": "missing k", `"1"`: "k is not a number", "true": "k is not a number",
			"1.0": "k 1.0 is not an integer", "1e3": "k 1e3 is not an integer", "1E3": "k 1E3 is not an integer",
			"9223372036854775808":  "k 9223372036854775808 is too large",
			"-9223372036854775809": "k -9223372036854775809 is too small",
		} {
			_, err := field(raw).Int()
			assert.EqualError(t, err, reason, raw)
		}
		_, err := field("1" + strings.Repeat("0", 80)).Int()
		assert.ErrorIs(t, err, strconv.ErrRange)
		assert.Contains(t, err.Error(), "...", "a long value is clipped")
	})
	t.Run("Time", func(t *testing.T) {
		t.Parallel()
		got, err := field(`"2026-11-27T19:30:00.5+01:30"`).Time()
		require.NoError(t, err)
		assert.Equal(t, time.Date(2026, 11, 27, 18, 0, 0, 5e8, time.UTC), got)
		assert.Equal(t, time.UTC, got.Location())
		got, err = field(`"2262-04-11T23:47:16.854775807Z"`).Time()
		require.NoError(t, err, "the last representable instant")
		assert.Equal(t, int64(1<<63-1), got.UnixNano())
		for raw, reason := range map[string]string{
			"":                                   "missing k",
			"1":                                  "k is not a string",
			`"2026-11-27 18:00:00Z"`:             `k "2026-11-27 18:00:00Z" is not RFC 3339`,
			`"2262-04-11T23:47:17Z"`:             `k "2262-04-11T23:47:17Z" is out of range (years 1678 to 2262)`,
			`"1677-09-21T00:12:43Z"`:             `k "1677-09-21T00:12:43Z" is out of range (years 1678 to 2262)`,
			`"` + strings.Repeat("x", 100) + `"`: `k "` + strings.Repeat("x", 64) + `..." is not RFC 3339`,
		} {
			_, err := field(raw).Time()
			assert.EqualError(t, err, reason, raw)
		}
	})
}

// FuzzMembers checks Members against encoding/json: a line it accepts is
// a JSON object whose members (decoded into a map, the last one winning)
// have exactly the raw values it found; a line it rejects is not a JSON
// object.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x"}`, ` {"z":[1,{"a":2}],"a":null} `, `{"\u0061":true,"a":{}}`, `[1]`, `{"a":`, `"x"`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fields, err := jsonl.Members(line, "a", "b", "")
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(line, &m)
		if err != nil {
			if jerr == nil && m != nil {
				t.Fatalf("Members rejects a JSON object: %v", err)
			}
			return
		}
		if jerr != nil {
			t.Fatalf("Members accepts what encoding/json rejects (%v)", jerr)
		}
		for _, fl := range fields {
			raw, ok := m[fl.Key]
			if ok != (fl.Raw != nil) || (ok && string(raw) != string(fl.Raw)) {
				t.Fatalf("key %q: Members found %q, encoding/json %q (present %v)", fl.Key, fl.Raw, raw, ok)
			}
		}
	})
}
