package enrich

// withStateProbe reports, when each join instance closes, the largest number
// of records it held in state and the number it still held.
func withStateProbe(f func(maxState, finalState int)) JoinOption {
	return joinOptionFunc(func(c *joinConfig) { c.probe = f })
}
