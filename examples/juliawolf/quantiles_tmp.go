package main

import (
	"math"
	"slices"
)

// listenTimes summarizes ms_played values for p50/p95. TEMPORARY: a
// minimal log-bucket sketch (1% relative error) until sketch.Quantiles
// lands.
type listenTimes struct {
	bins  map[int]int64
	zeros int64
	n     int64
}

var ltGamma = (1 + 0.01) / (1 - 0.01)

func (l *listenTimes) add(ms int64) {
	l.n++
	if ms <= 0 {
		l.zeros++
		return
	}
	if l.bins == nil {
		l.bins = map[int]int64{}
	}
	l.bins[int(math.Ceil(math.Log(float64(ms))/math.Log(ltGamma)))]++
}

func (l *listenTimes) merge(o *listenTimes) error {
	l.n += o.n
	l.zeros += o.zeros
	for k, v := range o.bins {
		if l.bins == nil {
			l.bins = map[int]int64{}
		}
		l.bins[k] += v
	}
	return nil
}

func (l *listenTimes) quantile(q float64) int64 {
	if l.n == 0 {
		return 0
	}
	rank := int64(q * float64(l.n-1))
	if rank < l.zeros {
		return 0
	}
	seen := l.zeros
	keys := make([]int, 0, len(l.bins))
	for k := range l.bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		seen += l.bins[k]
		if seen > rank {
			return roundMs(2 * math.Pow(ltGamma, float64(k)) / (1 + ltGamma))
		}
	}
	return 0
}
