package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/brook-streams/brook/internal/jsonenc"
	"github.com/brook-streams/brook/stream/jsonl"
)

// Play is one play event: who played which track where, when (event time)
// and for how long.
type Play struct {
	EventID, UserID, TrackID, Platform string
	EventTime                          time.Time
	MsPlayed                           int64
	// Line is the 1-based input line the play came from (for generated
	// plays, its line in the -dump output). Dead letters cite it.
	Line int64
}

// ErrUnknownTrack is wrapped by the error for a play whose track_id the
// catalog lacks.
var ErrUnknownTrack = errors.New("unknown track_id")

// playKeys are the members of an event line, in the order DecodePlay reads them.
var playKeys = []string{"event_id", "user_id", "track_id", "platform", "event_time", "ms_played"}

// DecodePlay decodes one event line strictly; the error's text is the dead
// letter's reason. The four ids are non-empty strings, event_time is RFC 3339
// inside the int64-nanosecond range, ms_played a non-negative int64. Unknown
// members are ignored; the track is not checked here (see CheckTrack).
func DecodePlay(line []byte) (Play, error) {
	f, err := jsonl.Members(line, playKeys...)
	if err != nil {
		return Play{}, err
	}
	var p Play
	for i, dst := range []*string{&p.EventID, &p.UserID, &p.TrackID, &p.Platform} {
		if *dst, err = f[i].Text(); err == nil && *dst == "" {
			err = fmt.Errorf("empty %s", f[i].Key)
		}
		if err != nil {
			return Play{}, err
		}
	}
	if p.EventTime, err = f[4].Time(); err != nil {
		return Play{}, err
	}
	p.MsPlayed, err = f[5].Int()
	if (err == nil && p.MsPlayed < 0) || (errors.Is(err, strconv.ErrRange) && f[5].Raw[0] == '-') {
		err = fmt.Errorf("ms_played %s is negative", clip(string(f[5].Raw)))
	}
	if err != nil {
		return Play{}, err
	}
	return p, nil
}

// unknownTrackError is the reason for a play whose track the catalog lacks.
type unknownTrackError struct{ play Play }

func (e *unknownTrackError) Error() string {
	return fmt.Sprintf("%v %q", ErrUnknownTrack, clip(e.play.TrackID))
}
func (e *unknownTrackError) Unwrap() error { return ErrUnknownTrack }

// CheckTrack returns nil if p's track is in the catalog, else an error
// wrapping ErrUnknownTrack.
func CheckTrack(cat *Catalog, p Play) error {
	if _, ok := cat.Index(p.TrackID); !ok {
		return &unknownTrackError{play: p}
	}
	return nil
}

// clip shortens a value quoted in a reason to 64 bytes.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// AppendJSON appends p as an event line (without the newline); whole
// milliseconds get exactly three fractional digits, as generated.
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
	layout := time.RFC3339Nano
	if p.EventTime.Nanosecond()%int(time.Millisecond) == 0 {
		layout = "2006-01-02T15:04:05.000Z07:00"
	}
	dst = p.EventTime.UTC().AppendFormat(dst, layout)
	dst = append(dst, `","ms_played":`...)
	dst = strconv.AppendInt(dst, p.MsPlayed, 10)
	return append(dst, '}')
}
