package listener

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RetryTopics configures non-blocking retries through retry topics, with
// the semantics and topic names of Spring for Apache Kafka's
// @RetryableTopic, so that Java and Go services on one cluster share the
// layout: a record whose handler fails is not retried in place, where it
// would hold up its partition; it is forwarded to a retry topic with a
// due time, consumed from there by the same handler once due, and after
// the last attempt (or at once for an error that is not retryable) it goes
// to the dead-letter topic.
//
// The zero value is Spring's defaults: 3 attempts (the first delivery and
// 2 retries), 1s between them, topics named by index with the "-retry"
// and "-dlt" suffixes, the last topic reused for trailing retries with the
// same delay, topics created with the main topic's partition count.
type RetryTopics struct {
	// Attempts is the number of deliveries, the first one included, before
	// the record goes to the dead-letter topic. 0 means 3.
	Attempts int
	// Delay is the wait before the first retry. 0 means 1s.
	Delay time.Duration
	// Multiplier > 1 multiplies the delay at each further retry
	// (exponential back off); 0 or 1 keeps it fixed.
	Multiplier float64
	// MaxDelay caps an exponential delay. 0 means 30s, Spring Retry's
	// default.
	MaxDelay time.Duration
	// Suffixing names retry topics by index (orders-retry-0, -1, ...: the
	// default) or by delay (orders-retry-1000, -2000, ...).
	Suffixing Suffixing
	// MultipleTopics gives every retry its own topic even when trailing
	// retries share a delay (Spring's SameIntervalTopicReuseStrategy
	// MULTIPLE_TOPICS); by default they share the last topic, and a fixed
	// delay uses a single topic named without index ("orders-retry").
	MultipleTopics bool
	// RetrySuffix and DLTSuffix default to "-retry" and "-dlt".
	RetrySuffix string
	DLTSuffix   string
	// AutoCreate creates the retry topics and the dead-letter topic when
	// the container starts (default on), with the main topic's partition
	// count and replication factor.
	AutoCreate Toggle
	// Disabled (the tag's retry=false) turns retry topics off for the
	// listener even where kafka.listener.retry.enabled turns them on.
	Disabled bool
}

// Merge returns rt with its zero fields taken from base (the
// kafka.listener.retry configuration under a listener's own retry
// attribute).
func (rt RetryTopics) Merge(base RetryTopics) RetryTopics {
	if rt.Attempts == 0 {
		rt.Attempts = base.Attempts
	}
	if rt.Delay == 0 {
		rt.Delay = base.Delay
	}
	if rt.Multiplier == 0 {
		rt.Multiplier = base.Multiplier
	}
	if rt.MaxDelay == 0 {
		rt.MaxDelay = base.MaxDelay
	}
	if rt.Suffixing == SuffixIndex {
		rt.Suffixing = base.Suffixing
	}
	rt.MultipleTopics = rt.MultipleTopics || base.MultipleTopics
	if rt.RetrySuffix == "" {
		rt.RetrySuffix = base.RetrySuffix
	}
	if rt.DLTSuffix == "" {
		rt.DLTSuffix = base.DLTSuffix
	}
	if rt.AutoCreate == Auto {
		rt.AutoCreate = base.AutoCreate
	}
	return rt
}

// Suffixing is how retry topics are told apart (Spring's
// TopicSuffixingStrategy).
type Suffixing uint8

// The suffixing strategies.
const (
	SuffixIndex Suffixing = iota // orders-retry-0, orders-retry-1, ...
	SuffixDelay                  // orders-retry-1000, orders-retry-2000, ...
)

// Defaults of [RetryTopics], Spring's.
const (
	DefaultRetryAttempts    = 3
	DefaultRetryDelay       = time.Second
	DefaultRetryMaxDelay    = 30 * time.Second
	DefaultRetryTopicSuffix = "-retry"
	DefaultDLTTopicSuffix   = "-dlt"
)

// Effective returns rt with its defaults filled in.
func (rt RetryTopics) Effective() RetryTopics {
	if rt.Attempts <= 0 {
		rt.Attempts = DefaultRetryAttempts
	}
	if rt.Delay <= 0 {
		rt.Delay = DefaultRetryDelay
	}
	if rt.MaxDelay <= 0 {
		rt.MaxDelay = DefaultRetryMaxDelay
	}
	if rt.RetrySuffix == "" {
		rt.RetrySuffix = DefaultRetryTopicSuffix
	}
	if rt.DLTSuffix == "" {
		rt.DLTSuffix = DefaultDLTTopicSuffix
	}
	return rt
}

// Delays returns the wait before each retry: Attempts-1 values.
func (rt RetryTopics) Delays() []time.Duration {
	rt = rt.Effective()
	out := make([]time.Duration, rt.Attempts-1)
	d := float64(rt.Delay)
	for i := range out {
		if rt.Multiplier > 1 && i > 0 {
			d *= rt.Multiplier
		}
		if rt.Multiplier > 1 && d > float64(rt.MaxDelay) {
			d = float64(rt.MaxDelay)
		}
		out[i] = time.Duration(min(d, math.MaxInt64/2))
		// Spring computes in whole milliseconds; so do the topic names.
		out[i] = out[i].Truncate(time.Millisecond)
	}
	return out
}

// RetryTopic is one retry topic of a main topic.
type RetryTopic struct {
	Name  string
	Delay time.Duration
}

// Topics returns, for main topic topic, the retry topic each retry goes
// to (Attempts-1 entries, in order; trailing retries may share one) and
// the dead-letter topic, named as Spring names them.
func (rt RetryTopics) Topics(topic string) (retries []RetryTopic, dlt string) {
	rt = rt.Effective()
	delays := rt.Delays()
	// Trailing retries with the last delay share one topic unless
	// MultipleTopics (Spring: reusableTopicAttempts).
	reusable := 0
	if !rt.MultipleTopics && len(delays) > 1 {
		last := delays[len(delays)-1]
		for _, d := range delays {
			if d == last {
				reusable++
			}
		}
		reusable--
	}
	distinct := len(delays) - reusable
	allSame := len(delays) > 1 && !slices.ContainsFunc(delays, func(d time.Duration) bool { return d != delays[0] })
	byIndex := rt.Suffixing == SuffixIndex || allSame
	count := func(d time.Duration) int {
		n := 0
		for _, x := range delays {
			if x == d {
				n++
			}
		}
		return n
	}
	for i, d := range delays {
		idx := min(i, distinct-1)
		var suffix string
		switch {
		case !rt.MultipleTopics && distinct == 1:
			suffix = rt.RetrySuffix
		case byIndex:
			suffix = rt.RetrySuffix + "-" + strconv.Itoa(idx)
		default:
			suffix = rt.RetrySuffix + "-" + strconv.FormatInt(d.Milliseconds(), 10)
			if rt.MultipleTopics && count(d) > 1 {
				suffix += "-" + strconv.Itoa(idx-slices.Index(delays, d))
			}
		}
		retries = append(retries, RetryTopic{Name: topic + suffix, Delay: d})
	}
	return retries, topic + rt.DLTSuffix
}

// String is the tag spelling of rt (keys with non-default values).
func (rt RetryTopics) String() string {
	var parts []string
	if rt.Attempts > 0 {
		parts = append(parts, "attempts:"+strconv.Itoa(rt.Attempts))
	}
	if rt.Delay > 0 {
		parts = append(parts, "backoff:"+rt.Delay.String())
	}
	if rt.Multiplier > 0 {
		parts = append(parts, "multiplier:"+strconv.FormatFloat(rt.Multiplier, 'g', -1, 64))
	}
	if rt.MaxDelay > 0 {
		parts = append(parts, "max:"+rt.MaxDelay.String())
	}
	if rt.Suffixing == SuffixDelay {
		parts = append(parts, "suffixing:delay")
	}
	if rt.MultipleTopics {
		parts = append(parts, "reuse:multiple")
	}
	if rt.RetrySuffix != "" {
		parts = append(parts, "retry-suffix:"+rt.RetrySuffix)
	}
	if rt.DLTSuffix != "" {
		parts = append(parts, "dlt-suffix:"+rt.DLTSuffix)
	}
	if rt.AutoCreate == Off {
		parts = append(parts, "autocreate:false")
	}
	if rt.Disabled {
		return "false"
	}
	if len(parts) == 0 {
		return "true"
	}
	return strings.Join(parts, ",")
}

// ParseRetryTopics parses the retry attribute's value: "true" (Spring's
// defaults), "false" (Disabled), or key:value items separated by
// ',' or ';':
//
//	attempts:4           deliveries in all, the first included (default 3)
//	backoff:1s           first delay (alias delay; default 1s)
//	multiplier:2         exponential back off (default fixed)
//	max:30s              cap of an exponential delay (alias maxdelay; default 30s)
//	suffixing:index      retry topics named by index (default) or by delay
//	reuse:single         trailing retries with one delay share a topic (default), or multiple
//	retry-suffix:-retry  suffix of retry topics
//	dlt-suffix:-dlt      suffix of the dead-letter topic
//	autocreate:true      create the topics at start (default true)
//
// Keys not given take the kafka.listener.retry configuration's values
// (see [RetryTopics.Merge]), else Spring's defaults.
func ParseRetryTopics(v string) (*RetryTopics, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, errors.New("empty retry value")
	}
	rt := RetryTopics{}
	switch strings.ToLower(v) {
	case "true", "on", "yes":
		return &rt, nil
	case "false", "off", "no":
		return &RetryTopics{Disabled: true}, nil
	}
	v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
	seen := map[string]bool{}
	for _, item := range splitTop(v, ",;") {
		item = strings.TrimSpace(item)
		k, val, ok := strings.Cut(item, ":")
		k, val = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(val)
		if !ok || k == "" || val == "" {
			return nil, fmt.Errorf("invalid retry item %q (want key:value, e.g. attempts:4,backoff:1s,multiplier:2,max:30s)", item)
		}
		k = strings.ReplaceAll(k, "_", "-")
		switch k {
		case "delay":
			k = "backoff"
		case "maxdelay", "max-delay":
			k = "max"
		case "retrysuffix":
			k = "retry-suffix"
		case "dltsuffix":
			k = "dlt-suffix"
		case "auto-create":
			k = "autocreate"
		}
		if seen[k] {
			return nil, fmt.Errorf("duplicate retry item %q", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "attempts":
			rt.Attempts, err = strconv.Atoi(val)
			if err == nil && rt.Attempts < 2 {
				err = fmt.Errorf("must be at least 2 (the first delivery and one retry), got %d", rt.Attempts)
			}
		case "backoff":
			rt.Delay, err = parsePositiveDuration(val)
		case "max":
			rt.MaxDelay, err = parsePositiveDuration(val)
		case "multiplier":
			rt.Multiplier, err = strconv.ParseFloat(val, 64)
			if err == nil && (rt.Multiplier < 0 || math.IsNaN(rt.Multiplier) || math.IsInf(rt.Multiplier, 0)) {
				err = fmt.Errorf("must be 0 (fixed) or more, got %s", val)
			}
		case "suffixing":
			switch strings.ToLower(val) {
			case "index":
				rt.Suffixing = SuffixIndex
			case "delay":
				rt.Suffixing = SuffixDelay
			default:
				err = fmt.Errorf("%q: want index or delay", val)
			}
		case "reuse":
			switch strings.ToLower(val) {
			case "single":
				rt.MultipleTopics = false
			case "multiple":
				rt.MultipleTopics = true
			default:
				err = fmt.Errorf("%q: want single or multiple", val)
			}
		case "retry-suffix":
			rt.RetrySuffix = val
		case "dlt-suffix":
			rt.DLTSuffix = val
		case "autocreate":
			rt.AutoCreate, err = parseToggle(val)
		default:
			return nil, fmt.Errorf("unknown retry item %q (known: attempts, backoff, multiplier, max, suffixing, reuse, retry-suffix, dlt-suffix, autocreate)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("retry item %q: %w", k, err)
		}
	}
	if rt.RetrySuffix != "" && rt.RetrySuffix == rt.DLTSuffix {
		return nil, fmt.Errorf("retry-suffix and dlt-suffix are both %q", rt.RetrySuffix)
	}
	return &rt, nil
}

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		if n, nerr := strconv.ParseInt(v, 10, 64); nerr == nil {
			// A bare number is milliseconds, as in Spring's @Backoff.
			d, err = time.Duration(n)*time.Millisecond, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 500ms, 1s, or milliseconds)", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", v)
	}
	return d, nil
}

func (ep *Endpoint) checkRetry() error { return CheckRetryTopics(ep, ep.Retry) }

// CheckRetryTopics refuses retry topics rt for ep where they cannot work
// (patterns, explicit partitions, batch listeners, bad values or topic
// names); nil or disabled rt is fine.
func CheckRetryTopics(ep *Endpoint, rt *RetryTopics) error {
	if rt == nil || rt.Disabled {
		return nil
	}
	switch {
	case ep.Pattern != "":
		return errors.New("retry topics need the main topics by name (topics=...), not a pattern")
	case len(ep.Partitions) > 0:
		return errors.New("retry topics need group consumption (topics=...), not explicit partitions")
	case ep.Batch:
		return errors.New("retry topics do not apply to batch listeners (as in Spring): a record is retried on its own")
	case rt.Attempts == 1 || rt.Attempts < 0:
		return fmt.Errorf("retry attempts must be at least 2, got %d", rt.Attempts)
	case rt.Delay < 0 || rt.MaxDelay < 0 || rt.Multiplier < 0:
		return errors.New("retry delays and multiplier must not be negative")
	}
	eff := rt.Effective()
	for _, t := range ep.Topics {
		retries, dlt := eff.Topics(t)
		for _, r := range retries {
			if !legalTopic.MatchString(r.Name) {
				return fmt.Errorf("retry topic %q of %q is not a legal topic name", r.Name, t)
			}
		}
		if !legalTopic.MatchString(dlt) {
			return fmt.Errorf("dead-letter topic %q of %q is not a legal topic name", dlt, t)
		}
	}
	return nil
}

// CheckTransactional refuses a transactional listener where transactions
// cannot give their guarantee; rt is the listener's effective retry
// topics (nil: none).
func CheckTransactional(ep *Endpoint, rt *RetryTopics) error {
	switch {
	case len(ep.Partitions) > 0:
		return errors.New("transactional listeners need group consumption (topics= or pattern=): the transaction commits the group's offsets")
	case ep.Batch:
		return errors.New("transactional listeners are record listeners for now: batch=true is not supported with transactional")
	case ep.AckMode.Manual():
		return fmt.Errorf("ack=%s does not apply to transactional listeners: the transaction commits the offsets", ep.AckMode)
	case rt != nil && !rt.Disabled:
		return errors.New("retry topics do not work with transactional listeners yet (a record waiting for its retry would be committed with the transaction); use in-place retries (errorhandler) or retry=false")
	}
	return nil
}
