package listener

import (
	"reflect"
	"strings"
	"testing"
)

func TestEndpointFromTag(t *testing.T) {
	res := MapResolver(map[string]string{
		"app.topics.payments": "payments",
		"app.list":            "a;b,c",
		"app.n":               "4",
	})
	tests := []struct {
		tag     string
		want    *Endpoint
		wantErr string
	}{
		{tag: "topics=orders,group=billing,concurrency=3",
			want: &Endpoint{Topics: []string{"orders"}, Group: "billing", Concurrency: 3}},
		{tag: "topics=orders;payments , group = g",
			want: &Endpoint{Topics: []string{"orders", "payments"}, Group: "g"}},
		{tag: "topics=${app.topics.payments},batch",
			want: &Endpoint{Topics: []string{"payments"}, Batch: true}},
		{tag: "topics=${app.list};x,concurrency=${app.n}",
			want: &Endpoint{Topics: []string{"a", "b", "c", "x"}, Concurrency: 4}},
		{tag: "topics=${missing:d1;d2}",
			want: &Endpoint{Topics: []string{"d1", "d2"}}},
		{tag: "pattern=orders-[a-z]{1,3},id=x",
			want: &Endpoint{Pattern: "orders-[a-z]{1,3}", ID: "x"}},
		{tag: "partitions=orders:0@0;orders:1@-1;orders:2-3@earliest;audit:0@latest;audit:1",
			want: &Endpoint{Partitions: []TopicPartition{
				{Topic: "orders", Partition: 0, Offset: Offset{Kind: OffsetAt}},
				{Topic: "orders", Partition: 1, Offset: Offset{Kind: OffsetFromEnd, Value: 1}},
				{Topic: "orders", Partition: 2, Offset: Offset{Kind: OffsetEarliest}},
				{Topic: "orders", Partition: 3, Offset: Offset{Kind: OffsetEarliest}},
				{Topic: "audit", Partition: 0, Offset: Offset{Kind: OffsetLatest}},
				{Topic: "audit", Partition: 1},
			}}},
		{tag: "topics=a,ack=manual-immediate,autostartup=false,validate=off,errorhandler=eh,dlt=none,sendto=r,clientidprefix=c",
			want: &Endpoint{Topics: []string{"a"}, AckMode: AckManualImmediate, AutoStartup: Off, Validate: Off,
				ErrorHandler: "eh", DLT: "none", SendTo: "r", ClientIDPrefix: "c"}},
		{tag: "topics=a,properties=fetch.max.wait.ms=100;session.timeout.ms=${x:6000}",
			want: &Endpoint{Topics: []string{"a"}, Properties: map[string]string{"fetch.max.wait.ms": "100", "session.timeout.ms": "6000"}}},
		{tag: "TOPICS=a,Batch=true", want: &Endpoint{Topics: []string{"a"}, Batch: true}},

		{tag: "topics=orders,grp=x", wantErr: `unknown attribute "grp"`},
		{tag: "topics=a,topics=b", wantErr: `duplicate attribute "topics"`},
		{tag: "topics=a,,group=b", wantErr: "empty attribute"},
		{tag: "", wantErr: "empty tag"},
		{tag: "topics", wantErr: `attribute "topics" needs a value`},
		{tag: "topics=", wantErr: `attribute "topics" has an empty value`},
		{tag: "topics=a;;b", wantErr: "empty item"},
		{tag: "topics=a,concurrency=0", wantErr: "must be at least 1"},
		{tag: "topics=a,concurrency=x", wantErr: `attribute "concurrency"`},
		{tag: "topics=a,batch=maybe", wantErr: `invalid boolean "maybe"`},
		{tag: "topics=a,ack=sometimes", wantErr: `unknown ack mode "sometimes"`},
		{tag: "topics=${nope}", wantErr: "unresolvable placeholder: ${nope}"},
		{tag: "topics=${nope", wantErr: "unterminated placeholder"},
		{tag: "partitions=orders", wantErr: "invalid partition \"orders\""},
		{tag: "partitions=orders:x", wantErr: "bad partition number"},
		{tag: "partitions=orders:3-1", wantErr: "bad partition range"},
		{tag: "partitions=orders:0@soon", wantErr: "bad offset"},
		{tag: "topics=a,properties=novalue", wantErr: "invalid property"},
		{tag: "topics=a,properties=k=1;k=2", wantErr: `duplicate property "k"`},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			got, err := endpointFromTag(tt.tag, res)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.batchSet = false // bookkeeping, not an attribute
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSplitTop(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a,b", []string{"a", "b"}},
		{"a{1,2},b", []string{"a{1,2}", "b"}},
		{"${x:a,b},c", []string{"${x:a,b}", "c"}},
		{"(a,b),[c,d]", []string{"(a,b)", "[c,d]"}},
		{"", []string{""}},
	}
	for _, tt := range tests {
		if got := splitTop(tt.in, ","); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTop(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	r := MapResolver(map[string]string{"a": "A", "b": "B"})
	tests := []struct {
		in, want string
		r        Resolver
		err      bool
	}{
		{in: "plain", want: "plain", r: r},
		{in: "x-${a}-${b}", want: "x-A-B", r: r},
		{in: "${c:${a}}", want: "A", r: r},
		{in: "${c:}", want: "", r: r},
		{in: "${c}", r: r, err: true},
		{in: "${c:def}", want: "def", r: nil},
		{in: "${c}", r: nil, err: true},
	}
	for _, tt := range tests {
		got, err := resolveValue(tt.in, tt.r)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("resolve(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestAckModeRoundTrip(t *testing.T) {
	for m := AckRecord; m <= AckManualImmediate; m++ {
		got, err := ParseAckMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseAckMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	for _, s := range []string{"earliest", "latest", "5", "-3", ""} {
		o, err := ParseOffset(s)
		if err != nil || o.String() != s {
			t.Errorf("ParseOffset(%q) = %v (%q), %v", s, o, o.String(), err)
		}
	}
}
