package main

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
	if len(bytes.TrimSpace(line)) == 0 {
		return Play{}, errors.New("not a JSON object: empty line")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Play{}, fmt.Errorf("not a JSON object: found %s", te.Value)
		}
		return Play{}, fmt.Errorf("invalid JSON: %s", trimJSONErr(err))
	}
	if obj == nil {
		return Play{}, errors.New("not a JSON object: found null")
	}
	var p Play
	var err error
	if p.EventID, err = stringField(obj, "event_id"); err != nil {
		return Play{}, err
	}
	if p.UserID, err = stringField(obj, "user_id"); err != nil {
		return Play{}, err
	}
	if p.TrackID, err = stringField(obj, "track_id"); err != nil {
		return Play{}, err
	}
	if p.Platform, err = stringField(obj, "platform"); err != nil {
		return Play{}, err
	}
	ts, err := stringField(obj, "event_time")
	if err != nil {
		return Play{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Play{}, fmt.Errorf("event_time %q is not RFC 3339", clip(ts))
	}
	if t.Before(minEventTime) || t.After(maxEventTime) {
		return Play{}, fmt.Errorf("event_time %q is out of range (years 1678 to 2262)", ts)
	}
	p.EventTime = t.UTC()
	if p.MsPlayed, err = msPlayedField(obj["ms_played"]); err != nil {
		return Play{}, err
	}
	return p, nil
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

func stringField(obj map[string]json.RawMessage, name string) (string, error) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
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
	dst = appendJSONString(dst, p.EventID)
	dst = append(dst, `,"user_id":`...)
	dst = appendJSONString(dst, p.UserID)
	dst = append(dst, `,"track_id":`...)
	dst = appendJSONString(dst, p.TrackID)
	dst = append(dst, `,"platform":`...)
	dst = appendJSONString(dst, p.Platform)
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

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, everything
// else as is.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
