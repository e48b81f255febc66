package jsonenc

import (
	"encoding/json"
	"testing"
)

func check(t *testing.T, s string) {
	t.Helper()
	got := AppendString(nil, s)
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
	}
	want, _ := json.Marshal(s) // encoding/json replaces invalid UTF-8 the same way
	var wantBack string
	_ = json.Unmarshal(want, &wantBack)
	if back != wantBack {
		t.Fatalf("AppendString(%q) decodes to %q, encoding/json's to %q", s, back, wantBack)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x01\n\r\t\x1f", "bad \xff utf8", "sep \u2028 \u2029", "émoji 🎵", "<html>&"} {
		check(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("hello")
	f.Add("\xff\xfe\u2028\"\\")
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
