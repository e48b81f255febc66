package main

import (
	"fmt"
	"strings"
)

func ExampleDecodePlay() {
	p, err := DecodePlay([]byte(`{"event_id":"e-0000001","user_id":"u-004211","track_id":"jw-01","platform":"Spotify","event_time":"2026-11-27T19:00:00.250+01:00","ms_played":171000}`))
	fmt.Println(p.TrackID, p.EventTime, p.MsPlayed, err)
	fmt.Println(CheckTrack(DefaultCatalog(), p))

	for _, line := range []string{
		`{"event_id":"e-2","user_id":"u-1","track_id":"jw-01","platform":"Tidal","event_time":"2026-11-27T18:00:00Z","ms_played":-5}`,
		`{"event_id":"e-3","user_id":"u-1","track_id":"jw-42","platform":"Tidal","event_time":"2026-11-27T18:00:00Z","ms_played":5}`,
		`[1, 2, 3]`,
	} {
		p, err := DecodePlay([]byte(line))
		if err == nil {
			err = CheckTrack(DefaultCatalog(), p)
		}
		fmt.Println(err)
	}
	// Output:
	// jw-01 2026-11-27 18:00:00.25 +0000 UTC 171000 <nil>
	// <nil>
	// ms_played -5 is negative
	// unknown track_id "jw-42"
	// not a JSON object: found array
}

func ExampleGenerator() {
	g := NewGenerator(DefaultCatalog(), 9000, 1)
	for _, w := range g.Waves() {
		fmt.Printf("wave %d %-22s %5d plays from %s for %s\n", w.Number, w.Name, w.Events, w.Start.Format("15:04"), w.Span)
	}
	var sb strings.Builder
	for p := range g.All() {
		sb.Write(AppendJSON(nil, p))
		break
	}
	fmt.Println(strings.HasPrefix(sb.String(), `{"event_id":"e-0000001","user_id":"u-`))
	// Output:
	// wave 1 New Release Spike       2400 plays from 18:00 for 12m0s
	// wave 2 Weekend Surge           5000 plays from 18:12 for 20m0s
	// wave 3 Steady State Baseline   1600 plays from 18:32 for 15m0s
	// true
}
