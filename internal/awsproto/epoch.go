package awsproto

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Epoch is a timestamp on the wire: the AWS JSON protocols send seconds since the epoch as
// a number.
type Epoch time.Time

// MarshalJSON encodes seconds with millisecond precision.
func (e Epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON accepts a number of seconds (fractions to the microsecond).
func (e *Epoch) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	// Rounded to the microsecond: a float64 of seconds carries no more, and truncating
	// its binary fraction would turn .123 into .122999906.
	*e = Epoch(time.UnixMicro(int64(math.Round(f * 1e6))).UTC())
	return nil
}

// EpochPtr returns t as an Epoch, or nil for the zero time (an absent field).
func EpochPtr(t time.Time) *Epoch {
	if t.IsZero() {
		return nil
	}
	e := Epoch(t)
	return &e
}
