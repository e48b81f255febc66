//go:build !unix

package jsonl_test

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
