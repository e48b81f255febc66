package jsonl

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrNotRFC3339 is wrapped by the error [ParseRFC3339] returns for text that
// is not an RFC 3339 date-time.
var ErrNotRFC3339 = errors.New("not an RFC 3339 date-time")

// ParseRFC3339 parses an RFC 3339 date-time (RFC 3339 §5.6), strictly:
//
//	date-time    = full-date "T" full-time
//	full-date    = 4DIGIT "-" 2DIGIT "-" 2DIGIT   ; year, month 01-12, day 01-28/29/30/31
//	full-time    = 2DIGIT ":" 2DIGIT ":" 2DIGIT [ "." 1*DIGIT ] time-offset
//	                                              ; hour 00-23, minute 00-59, second 00-59
//	time-offset  = "Z" / ( "+" / "-" ) 2DIGIT ":" 2DIGIT   ; hour 00-23, minute 00-59
//
// Every field has exactly its number of ASCII digits, the fraction is
// introduced by "." only (never ","), the day must exist in its month of the
// proleptic Gregorian calendar, and nothing may precede or follow the
// date-time (no spaces). This is narrower than [time.Parse] with
// [time.RFC3339], which accepts a one-digit hour, a "," fraction and offsets
// such as "+24:00" or "+23:60".
//
// Lowercase "t" and "z" are accepted, as RFC 3339 §5.6 allows ("T" and "Z"
// may alternatively be lower case); a space in place of "T" is not.
//
// Leap seconds: a second of 60 is rejected. A time.Time cannot represent
// 23:59:60, and moving it onto a neighbouring second would silently reorder
// events; a source that emits leap seconds must be given its own decoder.
//
// The offset "-00:00" (an unknown local offset) is read as UTC. A fraction
// may have any number of digits; digits beyond nanoseconds are truncated, not
// rounded, as time.Parse does.
//
// The result is the instant in UTC (the offset is applied). Errors wrap
// [ErrNotRFC3339] and say which field is wrong. Parsing does not allocate
// unless it fails.
func ParseRFC3339[T ~string | ~[]byte](text T) (time.Time, error) {
	t, reason := parseRFC3339(text)
	if reason != "" {
		return time.Time{}, &rfc3339Error{text: string(text), reason: reason}
	}
	return t, nil
}

// rfc3339Error is ParseRFC3339's error; it formats lazily.
type rfc3339Error struct {
	text   string
	reason string
}

func (e *rfc3339Error) Error() string {
	s := e.text
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%s %v: %s", strconv.Quote(s), ErrNotRFC3339, e.reason)
}

func (e *rfc3339Error) Unwrap() error { return ErrNotRFC3339 }

// parseRFC3339 returns the time, or a non-empty reason why s is not RFC 3339.
func parseRFC3339[T ~string | ~[]byte](s T) (time.Time, string) {
	// Fixed part: "2006-01-02T15:04:05" is 19 bytes, the shortest offset 1.
	if len(s) < 20 {
		return time.Time{}, "too short"
	}
	hi, lo := digits2(s, 0)
	year := hi*100 + lo
	if hi < 0 || lo < 0 {
		return time.Time{}, "year is not 4 digits"
	}
	if s[4] != '-' || s[7] != '-' {
		return time.Time{}, `date separator is not "-"`
	}
	month := num2(s, 5)
	if month < 1 || month > 12 {
		return time.Time{}, "month is not 2 digits 01-12"
	}
	day := num2(s, 8)
	if day < 1 || day > daysIn(year, month) {
		return time.Time{}, "day is not 2 digits within its month"
	}
	if s[10] != 'T' && s[10] != 't' {
		return time.Time{}, `date and time are not separated by "T"`
	}
	hour := num2(s, 11)
	if hour < 0 || hour > 23 {
		return time.Time{}, "hour is not 2 digits 00-23"
	}
	if s[13] != ':' || s[16] != ':' {
		return time.Time{}, `time separator is not ":"`
	}
	minute := num2(s, 14)
	if minute < 0 || minute > 59 {
		return time.Time{}, "minute is not 2 digits 00-59"
	}
	sec := num2(s, 17)
	if sec == 60 {
		return time.Time{}, "leap second 60 is not supported"
	}
	if sec < 0 || sec > 59 {
		return time.Time{}, "second is not 2 digits 00-59"
	}
	i := 19
	nsec := 0
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i-start < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
			i++
		}
		if i == start {
			return time.Time{}, `no digit after "."`
		}
		for n := i - start; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(s) {
		return time.Time{}, "no time offset"
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i < 6 {
			return time.Time{}, `time offset is not "+hh:mm" or "-hh:mm"`
		}
		oh := num2(s, i+1)
		if oh < 0 || oh > 23 {
			return time.Time{}, "offset hour is not 2 digits 00-23"
		}
		if s[i+3] != ':' {
			return time.Time{}, `offset separator is not ":"`
		}
		om := num2(s, i+4)
		if om < 0 || om > 59 {
			return time.Time{}, "offset minute is not 2 digits 00-59"
		}
		offset = (oh*60 + om) * 60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, `time offset is not "Z", "+hh:mm" or "-hh:mm"`
	}
	if i != len(s) {
		return time.Time{}, "text after the time offset"
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), ""
}

// num2 returns the two-digit number at s[i:i+2], or -1.
func num2[T ~string | ~[]byte](s T, i int) int {
	a, b := int(s[i])-'0', int(s[i+1])-'0'
	if uint(a) > 9 || uint(b) > 9 {
		return -1
	}
	return a*10 + b
}

// digits2 returns the two two-digit numbers at s[i:i+4] (-1 for one that is
// not).
func digits2[T ~string | ~[]byte](s T, i int) (int, int) {
	return num2(s, i), num2(s, i+2)
}

// daysFromCivil returns the number of days from 1970-01-01 to the given date
// of the proleptic Gregorian calendar (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
