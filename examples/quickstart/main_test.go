package main

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// TestQuickstart runs the README's example and checks what it prints.
func TestQuickstart(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	w.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "[NOT]\n" {
		t.Fatalf("quickstart printed %q, want %q", got, "[NOT]\n")
	}
}
