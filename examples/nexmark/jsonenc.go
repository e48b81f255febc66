package main

import (
	"github.com/brook-streams/brook/internal/jsonenc"
	"strconv"
	"time"
)

// Hand-written JSON appenders: results and dumps are written at millions of
// rows a second, where encoding/json's reflection would dominate.

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendIntField(b []byte, key string, v int64) []byte {
	return appendInt(appendKey(b, key), v)
}

func appendStringField(b []byte, key, s string) []byte {
	return jsonenc.AppendString(appendKey(b, key), s)
}

func appendTimeField(b []byte, key string, ms int64) []byte {
	return appendTime(appendKey(b, key), ms)
}

// appendMilli appends v/1000 as a decimal with exactly three fraction
// digits: the DECIMAL(23, 3) of q1's price.
func appendMilli(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v // prices are far from MinInt64
	}
	b = strconv.AppendInt(b, v/1000, 10)
	f := v % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// appendTime appends ms (milliseconds since the Unix epoch) as a quoted
// TimestampLayout string in UTC.
func appendTime(b []byte, ms int64) []byte {
	days := floorDiv(ms, 86_400_000)
	rest := ms - days*86_400_000
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		b = append(b, '"')
		b = time.UnixMilli(ms).UTC().AppendFormat(b, TimestampLayout)
		return append(b, '"')
	}
	hh, mm, ss, mil := rest/3_600_000, rest/60_000%60, rest/1000%60, rest%1000
	return append(b, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), ' ',
		byte('0'+hh/10), byte('0'+hh%10), ':', byte('0'+mm/10), byte('0'+mm%10), ':',
		byte('0'+ss/10), byte('0'+ss%10), '.',
		byte('0'+mil/100), byte('0'+mil/10%10), byte('0'+mil%10), '"')
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days-to-civil algorithm).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}
