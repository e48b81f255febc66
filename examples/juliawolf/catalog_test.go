package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultCatalog(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	require.Equal(t, 10, cat.Len())
	for i, tr := range cat.All() {
		assert.Equal(t, formatID("jw-", int64(i+1), 2), tr.TrackID)
		assert.NotEmpty(t, tr.Title)
		assert.NotEmpty(t, tr.Album)
		assert.Positive(t, tr.DurationMs)
		if i > 1 {
			assert.Less(t, tr.Weight, cat.Track(1).Weight, "jw-01 and jw-02 lead by weight")
		}
	}
	assert.Equal(t, "In My Room", cat.Track(0).Title)
	assert.Equal(t, "Kill You Off", cat.Track(1).Title)
	assert.Greater(t, cat.Track(0).Weight, cat.Track(1).Weight)
	_, ok := cat.Lookup("jw-11")
	assert.False(t, ok)
	i, ok := cat.Index("jw-03")
	assert.True(t, ok)
	assert.Equal(t, 2, i)
}

func TestReadCatalog(t *testing.T) {
	t.Parallel()
	cat, err := ReadCatalog(strings.NewReader(`[
		{"track_id":"a","title":"A","album":"X","duration_ms":1000,"extra":true},
		{"track_id":"b","title":"B","duration_ms":2000}]`))
	require.NoError(t, err)
	require.Equal(t, 2, cat.Len())
	assert.Equal(t, Track{TrackID: "a", Title: "A", Album: "X", DurationMs: 1000, Weight: 1}, cat.Track(0))
	assert.Equal(t, Track{TrackID: "b", Title: "B", DurationMs: 2000, Weight: 0.5}, cat.Track(1))
}

func TestReadCatalogErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, json, err string }{
		{"empty file", ``, "catalog: not a JSON array"},
		{"an object", `{"track_id":"a"}`, "catalog: not a JSON array"},
		{"bad JSON", `[{"track_id":"a",}]`, "catalog: invalid character '}'"},
		{"empty array", `[]`, "catalog: catalog is empty"},
		{"duplicate id", `[{"track_id":"a","title":"A","duration_ms":1},{"track_id":"a","title":"B","duration_ms":1}]`, `duplicate track_id "a"`},
		{"empty id", `[{"track_id":"","title":"A","duration_ms":1}]`, "empty track_id"},
		{"empty title", `[{"track_id":"a","title":"","duration_ms":1}]`, "empty title"},
		{"zero duration", `[{"track_id":"a","title":"A","duration_ms":0}]`, "duration_ms must be positive"},
		{"negative duration", `[{"track_id":"a","title":"A","duration_ms":-5}]`, "duration_ms must be positive"},
		{"fractional duration", `[{"track_id":"a","title":"A","duration_ms":1.5}]`, "cannot unmarshal number 1.5"},
		{"missing duration", `[{"track_id":"a","title":"A"}]`, "are required"},
		{"string id", `[{"track_id":1,"title":"A","duration_ms":1}]`, "cannot unmarshal number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadCatalog(strings.NewReader(tc.json))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			assert.NotContains(t, err.Error(), "\n", "main prints it as one line")
		})
	}
}
