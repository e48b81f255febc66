package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/brook-streams/brook/internal/jsonenc"
	"github.com/brook-streams/brook/stream/jsonl"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Play is one play event: who played which track where, when (event time)
// and for how long.
type Play struct {
	EventID   string
	UserID    string
	TrackID   string
	Platform  string
	EventTime time.Time
	MsPlayed  int64
	// Line is the 1-based input line the play came from (for generated
	// plays, its line in the -dump output). Dead letters cite it.
	Line int64
}

// The event-time range a play may have: what fits in int64 nanoseconds
// since the Unix epoch, the resolution windows are computed in.
var (
	minEventTime = time.Unix(0, math.MinInt64).UTC()
	maxEventTime = time.Unix(0, math.MaxInt64).UTC()
)

// ErrUnknownTrack is wrapped by CheckTrack's error for a play whose track_id
// the catalog lacks.
var ErrUnknownTrack = errors.New("unknown track_id")

// DecodePlay decodes one event line strictly. It returns an error whose
// text is the reason the line is invalid: it is not a JSON object, a string
// field is missing, not a string or empty, event_time is not RFC 3339 (or
// out of the representable range), or ms_played is not a non-negative
// integer that fits in int64. Unknown fields are ignored. Whether track_id
// is in the catalog is not checked here (see CheckTrack). Line is left 0.
func DecodePlay(line []byte) (Play, error) {
	obj := trimJSONSpace(line)
	if len(obj) == 0 {
		return Play{}, errors.New("not a JSON object: empty line")
	}
	if !json.Valid(obj) {
		var v json.RawMessage
		err := json.Unmarshal(line, &v) // only to describe the syntax error
		return Play{}, fmt.Errorf("invalid JSON: %s", trimJSONErr(err))
	}
	if obj[0] != '{' {
		return Play{}, fmt.Errorf("not a JSON object: found %s", jsonKind(obj[0]))
	}
	var f [numFields]json.RawMessage
	if err := scanFields(obj, &f); err != nil {
		return Play{}, err
	}
	var p Play
	var err error
	if p.EventID, err = stringField(f[fEventID], "event_id"); err != nil {
		return Play{}, err
	}
	if p.UserID, err = stringField(f[fUserID], "user_id"); err != nil {
		return Play{}, err
	}
	if p.TrackID, err = stringField(f[fTrackID], "track_id"); err != nil {
		return Play{}, err
	}
	if p.Platform, err = stringField(f[fPlatform], "platform"); err != nil {
		return Play{}, err
	}
	ts, err := stringField(f[fEventTime], "event_time")
	if err != nil {
		return Play{}, err
	}
	t, err := jsonl.ParseRFC3339(ts)
	if err != nil {
		return Play{}, fmt.Errorf("event_time %q is not RFC 3339", clip(ts))
	}
	if t.Before(minEventTime) || t.After(maxEventTime) {
		return Play{}, fmt.Errorf("event_time %q is out of range (years 1678 to 2262)", ts)
	}
	p.EventTime = t.UTC()
	if p.MsPlayed, err = msPlayedField(f[fMsPlayed]); err != nil {
		return Play{}, err
	}
	return p, nil
}

// The fields of an event line, as indexes into scanFields' result.
const (
	fEventID = iota
	fUserID
	fTrackID
	fPlatform
	fEventTime
	fMsPlayed
	numFields
)

// fieldIndex maps an event line's keys to their index; other keys are
// ignored. Keys match exactly (case-sensitive), as in JSON.
var fieldIndex = map[string]int{
	"event_id": fEventID, "user_id": fUserID, "track_id": fTrackID,
	"platform": fPlatform, "event_time": fEventTime, "ms_played": fMsPlayed,
}

// scanFields walks the top level of obj, a syntactically valid JSON object,
// and stores the raw value of each known key in f (the last one wins when a
// key repeats, as encoding/json does). It allocates only for keys written
// with escapes.
func scanFields(obj []byte, f *[numFields]json.RawMessage) error {
	i := 1 // past '{'
	for {
		i = skipJSONSpace(obj, i)
		switch obj[i] {
		case '}':
			return nil
		case ',':
			i++
			continue
		}
		quoted := obj[i:endOfString(obj, i)]
		key := quoted[1 : len(quoted)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if err := json.Unmarshal(quoted, &k); err != nil {
				return fmt.Errorf("invalid JSON: %s", trimJSONErr(err))
			}
			key = []byte(k)
		}
		i = skipJSONSpace(obj, i+len(quoted)) + 1 // past ':'
		i = skipJSONSpace(obj, i)
		end := endOfValue(obj, i)
		if idx, ok := fieldIndex[string(key)]; ok {
			f[idx] = obj[i:end]
		}
		i = end
	}
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

// endOfValue returns the index just past the JSON value starting at b[i].
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
	default: // number, true, false, null
		for j := i; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
		}
		return len(b)
	}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// trimJSONSpace trims JSON's whitespace (space, tab, CR, LF) from both ends.
func trimJSONSpace(b []byte) []byte {
	b = b[skipJSONSpace(b, 0):]
	for n := len(b); n > 0 && (b[n-1] == ' ' || b[n-1] == '\t' || b[n-1] == '\r' || b[n-1] == '\n'); n-- {
		b = b[:n-1]
	}
	return b
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// CheckTrack reports whether p's track is in the catalog: nil, or an error
// wrapping ErrUnknownTrack whose text is the dead-letter reason. It is the
// enrichment step's half of validation.
func CheckTrack(cat *Catalog, p Play) error {
	if _, ok := cat.Index(p.TrackID); !ok {
		return fmt.Errorf("%w %q", ErrUnknownTrack, clip(p.TrackID))
	}
	return nil
}

func stringField(raw json.RawMessage, name string) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", fmt.Errorf("missing %s", name)
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", name)
	}
	var s string
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		s = string(raw[1 : len(raw)-1])
	} else if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %s", name, trimJSONErr(err))
	}
	if s == "" {
		return "", fmt.Errorf("empty %s", name)
	}
	return s, nil
}

func msPlayedField(raw json.RawMessage) (int64, error) {
	if raw == nil || string(raw) == "null" {
		return 0, errors.New("missing ms_played")
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, errors.New("ms_played is not a number")
	}
	if bytes.ContainsAny(raw, ".eE") {
		return 0, fmt.Errorf("ms_played %s is not an integer", clip(string(raw)))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && raw[0] == '-':
		return 0, fmt.Errorf("ms_played %s is negative", clip(string(raw)))
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("ms_played %s is too large", clip(string(raw)))
	case err != nil:
		return 0, fmt.Errorf("ms_played %s is not an integer", clip(string(raw)))
	case n < 0:
		return 0, fmt.Errorf("ms_played %d is negative", n)
	}
	return n, nil
}

// trimJSONErr drops encoding/json's "json: " prefix.
func trimJSONErr(err error) string {
	s := err.Error()
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}

// clip shortens a value quoted in a reason, so a dead letter's reason stays
// one short line whatever the input.
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

// AppendJSON appends p as one event line in the input format (without the
// newline). Event times with whole milliseconds are written with exactly
// three fractional digits, as the generator produces them.
func AppendJSON(dst []byte, p Play) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = jsonenc.AppendString(dst, p.EventID)
	dst = append(dst, `,"user_id":`...)
	dst = jsonenc.AppendString(dst, p.UserID)
	dst = append(dst, `,"track_id":`...)
	dst = jsonenc.AppendString(dst, p.TrackID)
	dst = append(dst, `,"platform":`...)
	dst = jsonenc.AppendString(dst, p.Platform)
	dst = append(dst, `,"event_time":"`...)
	t := p.EventTime.UTC()
	if t.Nanosecond()%int(time.Millisecond) == 0 {
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	} else {
		dst = t.AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, `","ms_played":`...)
	dst = strconv.AppendInt(dst, p.MsPlayed, 10)
	return append(dst, '}')
}
