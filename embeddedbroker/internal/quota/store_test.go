package quota

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sp(s string) *string { return &s }

func TestEntityString(t *testing.T) {
	for _, tc := range []struct {
		e    Entity
		want string
	}{
		{userClient("alice", "c1"), "/config/users/alice/clients/c1"},
		{Entity{Named("alice"), Default()}, "/config/users/alice/clients/<default>"},
		{user("alice"), "/config/users/alice"},
		{Entity{Default(), Named("c1")}, "/config/users/<default>/clients/c1"},
		{defaultUserClient, "/config/users/<default>/clients/<default>"},
		{defaultUser, "/config/users/<default>"},
		{client("c1"), "/config/clients/c1"},
		{defaultClient, "/config/clients/<default>"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseEntity(t *testing.T) {
	type ee = kmsg.AlterClientQuotasRequestEntryEntity
	for _, tc := range []struct {
		name    string
		in      []ee
		want    Entity
		wantErr string // substring; "" for success
	}{
		{"user", []ee{{Type: "user", Name: sp("alice")}}, user("alice"), ""},
		{"default user", []ee{{Type: "user"}}, defaultUser, ""},
		{"client then user", []ee{{Type: "client-id", Name: sp("c")}, {Type: "user"}}, Entity{Default(), Named("c")}, ""},
		{"default client", []ee{{Type: "client-id"}}, defaultClient, ""},
		{"empty", nil, Entity{}, "Invalid empty client quota entity"},
		{"unknown type", []ee{{Type: "group", Name: sp("g")}}, Entity{}, "Unhandled client quota entity type: group"},
		{"duplicate type", []ee{{Type: "user", Name: sp("a")}, {Type: "user", Name: sp("b")}}, Entity{}, "duplicate entity entry user"},
		{"empty user", []ee{{Type: "user", Name: sp("")}}, Entity{}, "Empty user not supported"},
		{"empty client", []ee{{Type: "client-id", Name: sp("")}}, Entity{}, "Empty client-id not supported"},
		{"ip with user", []ee{{Type: "ip", Name: sp("1.2.3.4")}, {Type: "user"}}, Entity{}, "IP entity should not be combined"},
		{"ip", []ee{{Type: "ip", Name: sp("1.2.3.4")}}, Entity{}, "not supported by the embedded broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEntity(tc.in)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %s, %v; want %s", got, err, tc.want)
				}
				back, err := ParseEntity(got.AlterEntity())
				if err != nil || back != got {
					t.Fatalf("AlterEntity round trip: %s, %v", back, err)
				}
				return
			}
			if err == nil || !errors.Is(err, kerr.InvalidRequest) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want INVALID_REQUEST %q", err, tc.wantErr)
			}
		})
	}
}

// Alter validates as Kafka's ClientQuotaControlManager; every error is
// INVALID_REQUEST and changes nothing.
func TestAlterValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		e       Entity
		ops     []kmsg.AlterClientQuotasRequestEntryOp
		wantErr string
	}{
		{"producer rate", user("u"), ops(setOp(ProducerByteRate, 1024)), ""},
		{"consumer rate", defaultClient, ops(setOp(ConsumerByteRate, 1)), ""},
		{"request percentage fraction", user("u"), ops(setOp(RequestPercentage, 0.5)), ""},
		{"controller mutation rate", user("u"), ops(setOp(ControllerMutationRate, 0.1)), ""},
		{"near-integral byte rate", user("u"), ops(setOp(ProducerByteRate, 1000.0000001)), ""},
		{"max long byte rate", user("u"), ops(setOp(ProducerByteRate, math.MaxInt64)), ""},
		{"all keys", defaultUserClient, ops(setOp(ProducerByteRate, 1), setOp(ConsumerByteRate, 2), setOp(RequestPercentage, 3), setOp(ControllerMutationRate, 4)), ""},
		{"remove unknown key", user("u"), ops(removeOp("bogus")), ""},
		{"unknown key", user("u"), ops(setOp("bogus", 1)), "Invalid configuration key bogus"},
		{"ip key on user", user("u"), ops(setOp("connection_creation_rate", 1)), "Invalid configuration key connection_creation_rate"},
		{"zero", user("u"), ops(setOp(ProducerByteRate, 0)), "must be greater than 0"},
		{"negative", user("u"), ops(setOp(RequestPercentage, -1)), "must be greater than 0"},
		{"fractional byte rate", user("u"), ops(setOp(ConsumerByteRate, 1.5)), "cannot be a fractional value"},
		{"too large byte rate", user("u"), ops(setOp(ProducerByteRate, 1e19)), "too large for a LONG"},
		{"NaN", user("u"), ops(setOp(RequestPercentage, math.NaN())), "finite"},
		{"Inf", user("u"), ops(setOp(RequestPercentage, math.Inf(1))), "finite"},
		{"duplicate key", user("u"), ops(setOp(ProducerByteRate, 1), removeOp(ProducerByteRate)), "Duplicate quota key"},
		{"empty entity", Entity{}, ops(setOp(ProducerByteRate, 1)), "Invalid empty client quota entity"},
		{"empty name", user(""), ops(setOp(ProducerByteRate, 1)), "Empty user not supported"},
		{"one bad op fails all", user("u"), ops(setOp(ProducerByteRate, 1), setOp(ConsumerByteRate, -1)), "greater than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore()
			verr := s.Validate(tc.e, tc.ops)
			err := s.Alter(tc.e, tc.ops)
			if (verr == nil) != (err == nil) {
				t.Fatalf("Validate %v but Alter %v", verr, err)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, kerr.InvalidRequest) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want INVALID_REQUEST %q", err, tc.wantErr)
			}
			if len(s.entities) != 0 || anyEnabled(s) {
				t.Fatal("failed Alter changed the store")
			}
		})
	}
}

func ops(o ...kmsg.AlterClientQuotasRequestEntryOp) []kmsg.AlterClientQuotasRequestEntryOp { return o }

func TestAlterSetRemove(t *testing.T) {
	s := NewStore()
	mustAlter(t, s, user("u"), setOp(ProducerByteRate, 10), setOp(RequestPercentage, 50))
	mustAlter(t, s, user("u"), setOp(ProducerByteRate, 20), removeOp(RequestPercentage))
	got, _ := s.Describe(nil, false)
	want := []kmsg.DescribeClientQuotasResponseEntry{{
		Entity: []kmsg.DescribeClientQuotasResponseEntryEntity{{Type: "user", Name: sp("u")}},
		Values: []kmsg.DescribeClientQuotasResponseEntryValue{{Key: ProducerByteRate, Value: 20}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	mustAlter(t, s, user("u"), removeOp(ProducerByteRate))
	if len(s.entities) != 0 || s.levels != [numKeys][9]int{} {
		t.Fatalf("entity without quotas kept: %v %v", s.entities, s.levels)
	}
}

// describeFixture stores one entity of each shape, and an ip-less store.
func describeFixture(t *testing.T) *Store {
	s := NewStore()
	for i, e := range []Entity{
		user("alice"), userClient("alice", "c1"), Entity{Named("alice"), Default()},
		defaultUser, defaultUserClient, Entity{Default(), Named("c1")},
		client("c1"), defaultClient, user("bob"),
	} {
		mustAlter(t, s, e, setOp(ProducerByteRate, float64(i+1)))
	}
	return s
}

func comp(typ string, mt kmsg.QuotasMatchType, match *string) kmsg.DescribeClientQuotasRequestComponent {
	return kmsg.DescribeClientQuotasRequestComponent{EntityType: typ, MatchType: mt, Match: match}
}

// Describe follows ClientQuotasImage.describe's filter semantics.
func TestDescribeFilter(t *testing.T) {
	s := describeFixture(t)
	const (
		exact = kmsg.QuotasMatchTypeExact
		def   = kmsg.QuotasMatchTypeDefault
		anyT  = kmsg.QuotasMatchTypeAny
	)
	type C = kmsg.DescribeClientQuotasRequestComponent
	for _, tc := range []struct {
		name   string
		comps  []C
		strict bool
		want   []string // entity paths, in order
	}{
		{"all", nil, false, []string{
			"/config/clients/<default>", "/config/clients/c1",
			"/config/users/<default>", "/config/users/<default>/clients/<default>", "/config/users/<default>/clients/c1",
			"/config/users/alice", "/config/users/alice/clients/<default>", "/config/users/alice/clients/c1",
			"/config/users/bob"}},
		{"strict nothing", nil, true, nil},
		{"user exact", []C{comp("user", exact, sp("alice"))}, false, []string{
			"/config/users/alice", "/config/users/alice/clients/<default>", "/config/users/alice/clients/c1"}},
		{"user exact strict", []C{comp("user", exact, sp("alice"))}, true, []string{"/config/users/alice"}},
		{"user default", []C{comp("user", def, nil)}, false, []string{
			"/config/users/<default>", "/config/users/<default>/clients/<default>", "/config/users/<default>/clients/c1"}},
		{"user default strict", []C{comp("user", def, nil)}, true, []string{"/config/users/<default>"}},
		{"user any strict", []C{comp("user", anyT, nil)}, true, []string{
			"/config/users/<default>", "/config/users/alice", "/config/users/bob"}},
		{"user any + client any strict", []C{comp("user", anyT, nil), comp("client-id", anyT, nil)}, true, []string{
			"/config/users/<default>/clients/<default>", "/config/users/<default>/clients/c1",
			"/config/users/alice/clients/<default>", "/config/users/alice/clients/c1"}},
		{"client exact", []C{comp("client-id", exact, sp("c1"))}, false, []string{
			"/config/clients/c1", "/config/users/<default>/clients/c1", "/config/users/alice/clients/c1"}},
		{"client default + user exact", []C{comp("client-id", def, nil), comp("user", exact, sp("alice"))}, true, []string{
			"/config/users/alice/clients/<default>"}},
		{"client any strict", []C{comp("client-id", anyT, nil)}, true, []string{"/config/clients/<default>", "/config/clients/c1"}},
		{"no match", []C{comp("user", exact, sp("carol"))}, false, nil},
		{"ip", []C{comp("ip", anyT, nil)}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Describe(tc.comps, tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, e := range got {
				parsed, err := ParseEntity(toAlterEntity(e.Entity))
				if err != nil {
					t.Fatal(err)
				}
				paths = append(paths, parsed.String())
				if len(e.Values) != 1 || e.Values[0].Key != ProducerByteRate {
					t.Fatalf("%s values %+v", parsed, e.Values)
				}
			}
			if !reflect.DeepEqual(paths, tc.want) {
				t.Fatalf("got %q\nwant %q", paths, tc.want)
			}
		})
	}
}

func toAlterEntity(es []kmsg.DescribeClientQuotasResponseEntryEntity) []kmsg.AlterClientQuotasRequestEntryEntity {
	out := make([]kmsg.AlterClientQuotasRequestEntryEntity, len(es))
	for i := range es {
		out[i] = kmsg.AlterClientQuotasRequestEntryEntity(es[i])
	}
	return out
}

func TestDescribeErrors(t *testing.T) {
	s := describeFixture(t)
	type C = kmsg.DescribeClientQuotasRequestComponent
	for _, tc := range []struct {
		name    string
		comps   []C
		wantErr *kerr.Error
		msg     string
	}{
		{"empty type", []C{comp("", 2, nil)}, kerr.InvalidRequest, "Invalid empty entity type"},
		{"unknown type", []C{comp("group", 2, nil)}, kerr.UnsupportedVersion, "Unsupported entity type group"},
		{"repeated type", []C{comp("user", 2, nil), comp("user", 1, nil)}, kerr.InvalidRequest, "cannot appear more than once"},
		{"exact without match", []C{comp("user", 0, nil)}, kerr.InvalidRequest, "MATCH_TYPE_EXACT, but set match string to null"},
		{"default with match", []C{comp("user", 1, sp("a"))}, kerr.InvalidRequest, "MATCH_TYPE_DEFAULT, but also specified a match string"},
		{"any with match", []C{comp("user", 2, sp("a"))}, kerr.InvalidRequest, "MATCH_TYPE_SPECIFIED, but also specified a match string"},
		{"bad match type", []C{comp("user", 7, nil)}, kerr.InvalidRequest, "Unknown match type 7"},
		{"ip with user", []C{comp("ip", 2, nil), comp("user", 2, nil)}, kerr.InvalidRequest, "IP filter component should not be used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Describe(tc.comps, false)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %s %q", err, tc.wantErr.Message, tc.msg)
			}
			req := kmsg.NewPtrDescribeClientQuotasRequest()
			req.Version = 1
			req.Components = tc.comps
			resp := s.DescribeClientQuotas(req)
			if resp.ErrorCode != tc.wantErr.Code || resp.ErrorMessage == nil || resp.Entries != nil || resp.Version != 1 {
				t.Fatalf("response %+v", resp)
			}
		})
	}
}

func TestDescribeValuesSorted(t *testing.T) {
	s := NewStore()
	mustAlter(t, s, user("u"), setOp(RequestPercentage, 3), setOp(ProducerByteRate, 1), setOp(ControllerMutationRate, 4), setOp(ConsumerByteRate, 2))
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	resp := s.DescribeClientQuotas(req)
	if resp.ErrorCode != 0 || len(resp.Entries) != 1 {
		t.Fatalf("%+v", resp)
	}
	want := []kmsg.DescribeClientQuotasResponseEntryValue{
		{Key: ConsumerByteRate, Value: 2}, {Key: ControllerMutationRate, Value: 4},
		{Key: ProducerByteRate, Value: 1}, {Key: RequestPercentage, Value: 3},
	}
	if !reflect.DeepEqual(resp.Entries[0].Values, want) {
		t.Fatalf("values %+v", resp.Entries[0].Values)
	}
}

func TestAlterClientQuotasRequest(t *testing.T) {
	s := NewStore()
	type ee = kmsg.AlterClientQuotasRequestEntryEntity
	entry := func(es []ee, o ...kmsg.AlterClientQuotasRequestEntryOp) kmsg.AlterClientQuotasRequestEntry {
		return kmsg.AlterClientQuotasRequestEntry{Entity: es, Ops: o}
	}
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.Version = 1
	req.Entries = []kmsg.AlterClientQuotasRequestEntry{
		entry([]ee{{Type: "user", Name: sp("alice")}}, setOp(ProducerByteRate, 100)),
		entry([]ee{{Type: "user"}, {Type: "client-id"}}, setOp(ConsumerByteRate, 200)),
		entry([]ee{{Type: "user", Name: sp("bob")}}, setOp(ProducerByteRate, -1)),
		entry([]ee{{Type: "user", Name: sp("alice")}}, setOp(ConsumerByteRate, 300)),
		entry([]ee{{Type: "group", Name: sp("g")}}, setOp(ConsumerByteRate, 300)),
	}
	check := func(resp *kmsg.AlterClientQuotasResponse) {
		t.Helper()
		wantCodes := []int16{0, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}
		if resp.Version != 1 || len(resp.Entries) != len(wantCodes) {
			t.Fatalf("response %+v", resp)
		}
		for i, e := range resp.Entries {
			if e.ErrorCode != wantCodes[i] || (e.ErrorCode != 0) != (e.ErrorMessage != nil) {
				t.Errorf("entry %d: code %d msg %v", i, e.ErrorCode, e.ErrorMessage)
			}
			if len(e.Entity) != len(req.Entries[i].Entity) || e.Entity[0].Type != req.Entries[i].Entity[0].Type {
				t.Errorf("entry %d: entity not echoed: %+v", i, e.Entity)
			}
		}
	}
	req.ValidateOnly = true
	check(s.AlterClientQuotas(req))
	if len(s.entities) != 0 || s.enabled[0].Load() != 0 {
		t.Fatal("validate_only changed the store")
	}
	req.ValidateOnly = false
	check(s.AlterClientQuotas(req))
	got, _ := s.Describe(nil, false)
	if len(got) != 2 || got[0].Values[0].Value != 200 || got[1].Values[0].Value != 100 || len(got[1].Values) != 1 {
		t.Fatalf("store after alter: %+v", got)
	}
	m := NewManager(Fetch, s, newFakeClock().config())
	if q, _ := m.Quota("carol", "x"); q != 200 {
		t.Fatalf("Quota = %v, want the <default>/<default> 200", q)
	}
}

func TestSnapshotRestore(t *testing.T) {
	a := describeFixture(t)
	mustAlter(t, a, user("alice"), setOp(RequestPercentage, 12.5), setOp(ControllerMutationRate, 0.25))
	// The same contents built in another order encode the same.
	b := NewStore()
	got, _ := a.Describe(nil, false)
	for i := len(got) - 1; i >= 0; i-- {
		e, _ := ParseEntity(toAlterEntity(got[i].Entity))
		for _, v := range got[i].Values {
			mustAlter(t, b, e, setOp(v.Key, v.Value))
		}
	}
	snap := a.Snapshot()
	if !bytes.Equal(snap, b.Snapshot()) {
		t.Fatalf("snapshots differ:\n%s\n%s", snap, b.Snapshot())
	}
	c := NewStore()
	mustAlter(t, c, user("zed"), setOp(ProducerByteRate, 1))
	if err := c.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Snapshot(), snap) {
		t.Fatalf("restored snapshot differs:\n%s\n%s", c.Snapshot(), snap)
	}
	if c.levels != a.levels {
		t.Fatalf("levels %v, want %v", c.levels, a.levels)
	}
	m := NewManager(Request, c, newFakeClock().config())
	if q, ok := m.Quota("alice", "x"); !ok || q != 12.5 || !m.Enabled() {
		t.Fatalf("restored quota %v %v", q, ok)
	}
	if empty := NewStore().Snapshot(); string(empty) != `{"version":1,"entities":[]}` {
		t.Fatalf("empty snapshot %s", empty)
	}
	want := `{"version":1,"entities":[{"user":{"default":true},"client-id":{"name":"c"},"quotas":{"consumer_byte_rate":5,"request_percentage":0.5}}]}`
	d := NewStore()
	mustAlter(t, d, Entity{Default(), Named("c")}, setOp(RequestPercentage, 0.5), setOp(ConsumerByteRate, 5))
	if got := string(d.Snapshot()); got != want {
		t.Fatalf("snapshot %s\nwant %s", got, want)
	}

	for _, bad := range []string{
		``, `{"version":2,"entities":[]}`, `{"version":1,"entities":[{"quotas":{"producer_byte_rate":1}}]}`,
		`{"version":1,"entities":[{"user":{"name":"a"},"quotas":{"producer_byte_rate":1.5}}]}`,
		`{"version":1,"entities":[{"user":{"name":"a","default":true},"quotas":{}}]}`,
		`{"version":1,"entities":[{"user":{"name":"a"},"quotas":{"bogus":1}}]}`,
		`{"version":1,"entities":[{"user":{"name":"a"},"quotas":{"producer_byte_rate":1}},{"user":{"name":"a"},"quotas":{"consumer_byte_rate":1}}]}`,
		`{"version":1,"entities":[],"extra":1}`,
	} {
		if err := c.Restore([]byte(bad)); err == nil {
			t.Errorf("Restore(%s) succeeded", bad)
		}
		if !bytes.Equal(c.Snapshot(), snap) {
			t.Fatalf("failed Restore(%s) changed the store", bad)
		}
	}
}

func anyEnabled(s *Store) bool {
	for k := range numKeys {
		if s.enabled[k].Load() != 0 {
			return true
		}
	}
	return false
}
