package sharegroup

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ResetStrategy is the strategy of share.auto.offset.reset.
type ResetStrategy int8

const (
	// ResetLatest starts at the log end offset: Kafka's default.
	ResetLatest ResetStrategy = iota
	// ResetEarliest starts at the log start offset.
	ResetEarliest
	// ResetByDuration starts at the first record not older than a
	// duration.
	ResetByDuration
)

// AutoOffsetReset is share.auto.offset.reset: where a share partition
// without state starts. The zero value is "latest".
type AutoOffsetReset struct {
	// Strategy is the strategy.
	Strategy ResetStrategy
	// Duration is the duration of ResetByDuration.
	Duration time.Duration
}

// Special timestamps of ListOffsets.
const (
	listOffsetsLatest   int64 = -1
	listOffsetsEarliest int64 = -2
)

// javaDuration is Java's Duration.parse format as Kafka allows it: days,
// hours, minutes, seconds with a fraction, no sign.
var javaDuration = regexp.MustCompile(`^[Pp](?:(\d+)[Dd])?(?:[Tt](?:(\d+)[Hh])?(?:(\d+)[Mm])?(?:(\d+)(?:[.,](\d{0,9}))?[Ss])?)?$`)

// ParseAutoOffsetReset parses a share.auto.offset.reset value: "latest",
// "earliest" or "by_duration:" and an ISO-8601 duration (PnDTnHnMn.nS,
// not negative).
func ParseAutoOffsetReset(s string) (AutoOffsetReset, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); {
	case v == "latest":
		return AutoOffsetReset{Strategy: ResetLatest}, nil
	case v == "earliest":
		return AutoOffsetReset{Strategy: ResetEarliest}, nil
	case strings.HasPrefix(v, "by_duration:"):
		iso := strings.TrimSpace(s)[len("by_duration:"):]
		m := javaDuration.FindStringSubmatch(iso)
		if m == nil || strings.HasSuffix(strings.ToUpper(iso), "T") || strings.ToUpper(iso) == "P" {
			return AutoOffsetReset{}, fmt.Errorf("sharegroup: share.auto.offset.reset %q: %q is not an ISO-8601 duration (PnDTnHnMn.nS)", s, iso)
		}
		var d time.Duration
		for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
			if m[i+1] != "" {
				n, err := strconv.ParseInt(m[i+1], 10, 64)
				if err != nil || n > int64(1<<62)/int64(unit) {
					return AutoOffsetReset{}, fmt.Errorf("sharegroup: share.auto.offset.reset %q: duration out of range", s)
				}
				d += time.Duration(n) * unit
			}
		}
		if frac := m[5]; frac != "" {
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			d += time.Duration(ns)
		}
		return AutoOffsetReset{Strategy: ResetByDuration, Duration: d}, nil
	default:
		return AutoOffsetReset{}, fmt.Errorf("sharegroup: share.auto.offset.reset %q: not latest, earliest or by_duration:<ISO-8601 duration>", s)
	}
}

// String returns the value as share.auto.offset.reset spells it.
func (r AutoOffsetReset) String() string {
	switch r.Strategy {
	case ResetEarliest:
		return "earliest"
	case ResetByDuration:
		return "by_duration:PT" + strconv.FormatFloat(r.Duration.Seconds(), 'f', -1, 64) + "S"
	default:
		return "latest"
	}
}

// ListOffsetsTimestamp returns the ListOffsets timestamp whose offset is
// the initial start offset of a share partition without state at time
// now: -1 (latest), -2 (earliest), or the time now less the duration in
// milliseconds. The caller looks it up in the log (a timestamp past every
// record gives the log end offset) and calls [NewPartition] with it.
func (r AutoOffsetReset) ListOffsetsTimestamp(now time.Time) int64 {
	switch r.Strategy {
	case ResetEarliest:
		return listOffsetsEarliest
	case ResetByDuration:
		return now.Add(-r.Duration).UnixMilli()
	default:
		return listOffsetsLatest
	}
}
