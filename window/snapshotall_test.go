package window

// snapshotAll encodes the whole state as one group (tests and benchmarks).
func (o *op[K, T, Acc, Out]) snapshotAll() ([]byte, error) {
	st := o.newSnap()
	o.st.snapshot(func(K) *snapState[K, Acc] { return st })
	return encodeSnap(st)
}

// restoreAll replaces the state with one snapshotAll made.
func (o *op[K, T, Acc, Out]) restoreAll(b []byte) error {
	if err := o.RestoreKeyGroup(0, b); err != nil {
		return err
	}
	o.restored()
	o.rearm()
	return nil
}
