package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Field is the raw JSON text of one member of an object read by [Members],
// with its key for error messages. Raw is nil when the object lacks the key.
// Its methods read the value strictly and return errors whose text is a
// dead letter's reason ("missing user_id", "ms_played 1.5 is not an
// integer"); values quoted in them are cut to 64 bytes.
type Field struct {
	Key string
	Raw []byte
}

// Members reads the top level of the JSON object in line and returns one
// [Field] per key, in the order of keys: the member's raw value (the last
// one when a key repeats, as encoding/json does), or nil Raw when it is
// absent. Keys match exactly (case-sensitive, unlike encoding/json's struct
// fields); other members are skipped. Whitespace around the object is
// allowed. The error for a line that is not one JSON object says why:
// "not a JSON object: empty line", "not a JSON object: found array",
// "invalid JSON: " and encoding/json's syntax error. The Raw slices alias
// line; only keys written with escapes allocate.
func Members(line []byte, keys ...string) ([]Field, error) {
	obj := bytes.Trim(line, " \t\r\n")
	switch {
	case len(obj) == 0:
		return nil, errors.New("not a JSON object: empty line")
	case !json.Valid(obj):
		var v json.RawMessage
		return nil, fmt.Errorf("invalid JSON: %s", jsonErr(json.Unmarshal(line, &v)))
	case obj[0] != '{':
		return nil, fmt.Errorf("not a JSON object: found %s", kindOf(obj[0]))
	}
	fields := make([]Field, len(keys))
	for i, k := range keys {
		fields[i].Key = k
	}
	// obj is valid JSON, so the scan below only has to find where each
	// key and value ends.
	for i := 1; ; {
		i = skipSpace(obj, i)
		switch obj[i] {
		case '}':
			return fields, nil
		case ',':
			i++
			continue
		}
		quoted := obj[i:endOfString(obj, i)]
		key := quoted[1 : len(quoted)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(quoted, &k) // valid: checked above
			key = []byte(k)
		}
		i = skipSpace(obj, skipSpace(obj, i+len(quoted))+1) // past ':'
		end := endOfValue(obj, i)
		for j := range fields {
			if fields[j].Key == string(key) {
				fields[j].Raw = obj[i:end]
			}
		}
		i = end
	}
}

func (f Field) missing() bool { return f.Raw == nil || string(f.Raw) == "null" }

// Text returns the field's string value, with escapes decoded (invalid
// UTF-8 becomes U+FFFD, as with encoding/json). A missing or null field
// and a value that is not a string are errors.
func (f Field) Text() (string, error) {
	switch {
	case f.missing():
		return "", fmt.Errorf("missing %s", f.Key)
	case f.Raw[0] != '"':
		return "", fmt.Errorf("%s is not a string", f.Key)
	case bytes.IndexByte(f.Raw, '\\') < 0 && utf8.Valid(f.Raw):
		return string(f.Raw[1 : len(f.Raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(f.Raw, &s); err != nil {
		return "", fmt.Errorf("%s: %s", f.Key, jsonErr(err))
	}
	return s, nil
}

// Int returns the field's value as an integer: a JSON number without a
// fraction or exponent that fits in int64. A value out of that range
// returns an error wrapping [strconv.ErrRange].
func (f Field) Int() (int64, error) {
	switch {
	case f.missing():
		return 0, fmt.Errorf("missing %s", f.Key)
	case f.Raw[0] != '-' && (f.Raw[0] < '0' || f.Raw[0] > '9'):
		return 0, fmt.Errorf("%s is not a number", f.Key)
	case bytes.ContainsAny(f.Raw, ".eE"):
		return 0, fmt.Errorf("%s %s is not an integer", f.Key, clip(string(f.Raw)))
	}
	n, err := strconv.ParseInt(string(f.Raw), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && f.Raw[0] == '-':
		return 0, rangeError(fmt.Sprintf("%s %s is too small", f.Key, clip(string(f.Raw))))
	case errors.Is(err, strconv.ErrRange):
		return 0, rangeError(fmt.Sprintf("%s %s is too large", f.Key, clip(string(f.Raw))))
	case err != nil:
		return 0, fmt.Errorf("%s %s is not an integer", f.Key, clip(string(f.Raw)))
	}
	return n, nil
}

// rangeError is Int's error for a number beyond int64.
type rangeError string

func (e rangeError) Error() string { return string(e) }
func (rangeError) Unwrap() error   { return strconv.ErrRange }

// The instants an int64 count of nanoseconds since the Unix epoch holds:
// brook's event-time range.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// Time returns the field's value as an instant in UTC: a string that
// [ParseRFC3339] accepts, inside brook's event-time range (int64
// nanoseconds since the Unix epoch: the years 1678 to 2262).
func (f Field) Time() (time.Time, error) {
	s, err := f.Text()
	if err != nil {
		return time.Time{}, err
	}
	t, err := ParseRFC3339(s)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("%s %q is not RFC 3339", f.Key, clip(s))
	case t.Before(minTime) || t.After(maxTime):
		return time.Time{}, fmt.Errorf("%s %q is out of range (years 1678 to 2262)", f.Key, clip(s))
	}
	return t.UTC(), nil
}

// endOfString returns the index just past the string starting at b[i] == '"'.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// endOfValue returns the index just past the valid JSON value at b[i].
func endOfValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = endOfString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	for j := i; j < len(b); j++ { // a number, true, false or null
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// kindOf names the kind of JSON value that starts with c.
func kindOf(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonErr is err's text without encoding/json's "json: " prefix.
func jsonErr(err error) string {
	s := err.Error()
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}

// clip cuts a value quoted in an error to 64 bytes (on a rune boundary),
// so a reason stays one short line whatever the input.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
