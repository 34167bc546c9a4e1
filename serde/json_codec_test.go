package serde_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/serde"
)

// Types of the compatibility table.
type (
	ccInner struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
	}
	ccInner2 struct {
		C int
		D string `json:"d"`
	}
	ccConflict1 struct{ X int }
	ccConflict2 struct{ X int }
	ccEmbedded  struct {
		ccInner
		*ccInner2
		ccConflict1
		ccConflict2
		E string `json:"e"`
	}
	ccShadow struct {
		ccInner
		A string `json:"a"`
	}
	ccMyInt  int
	ccEmbInt struct {
		ccMyInt
		S string
	}
	ccEmbTag struct {
		ccInner `json:"inner"`
	}
	ccOmit struct {
		S  string         `json:"s,omitempty"`
		I  int            `json:"i,omitempty"`
		F  float64        `json:"f,omitempty"`
		B  bool           `json:"b,omitempty"`
		P  *int           `json:"p,omitempty"`
		Sl []int          `json:"sl,omitempty"`
		M  map[string]int `json:"m,omitempty"`
		St ccInner        `json:"st,omitempty"`
		T  time.Time      `json:"t,omitempty"`
		Z  time.Time      `json:"z,omitzero"`
		ZI ccInner        `json:"zi,omitzero"`
		If any            `json:"if,omitempty"`
	}
	ccStringTags struct {
		I  int     `json:"i,string"`
		F  float64 `json:"f,string"`
		B  bool    `json:"b,string"`
		S  string  `json:"s,string"`
		U  uint8   `json:"u,string"`
		P  *int    `json:"p,string"`
		Sl []int   `json:"sl,string"`
		O  int     `json:"o,omitempty,string"`
	}
	ccSkip struct {
		Dash   int `json:"-"`
		DashC  int `json:"-,"`
		hidden int
		Plain  int
		Quote  int `json:"q\"x"`
		Uni    int `json:"ü"`
		HTML   int `json:"<a>"`
	}
	ccTextKey      struct{ a, b string }
	ccValMarshaler struct{ N int }
	ccPtrMarshaler struct{ N int }
	ccValText      struct{ S string }
	ccBadMarshaler struct{}
	ccErrMarshaler struct{}
	ccHolder       struct {
		V  ccValMarshaler  `json:"v"`
		P  ccPtrMarshaler  `json:"p"`
		PP *ccPtrMarshaler `json:"pp"`
		T  ccValText       `json:"t"`
		TP *ccValText      `json:"tp"`
		R  json.RawMessage `json:"r"`
		N  json.Number     `json:"n"`
	}
	ccBytes struct {
		B  []byte    `json:"b"`
		N  []byte    `json:"n"`
		E  []byte    `json:"e"`
		A  [3]byte   `json:"a"`
		MB ccMyBytes `json:"mb"`
	}
	ccMyBytes []byte
	ccFloats  struct {
		F32 float32
		F64 []float64
	}
	ccInts struct {
		Max  int64
		Min  int64
		UMax uint64
		Big  *big.Int
		BigF *big.Float
		Num  json.Number
	}
	ccNils struct {
		P  *int
		S  []int
		ES []int
		M  map[string]int
		EM map[string]int
		I  any
		IE error
	}
	ccCycle    struct{ Next *ccCycle }
	ccCaseFold struct {
		Name  string `json:"name"`
		Other string
	}
	ccDecoded struct {
		A int
		B string
		C []int
		D map[string]any
		E any
		F *float64
		G uint8
		H [2]int
	}
)

func (k ccTextKey) MarshalText() ([]byte, error) { return []byte(k.a + "/" + k.b), nil }
func (k *ccTextKey) UnmarshalText(b []byte) error {
	a, c, ok := strings.Cut(string(b), "/")
	if !ok {
		return errors.New("no slash")
	}
	k.a, k.b = a, c
	return nil
}
func (v ccValMarshaler) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, ` { "n" : %d , "html":"<&>" } `, v.N), nil
}
func (v *ccPtrMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"ptr"`), nil }
func (v ccValText) MarshalText() ([]byte, error)       { return []byte("<" + v.S + ">"), nil }
func (v *ccValText) UnmarshalText(b []byte) error {
	v.S = strings.Trim(string(b), "<>")
	return nil
}
func (ccBadMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{bad`), nil }
func (ccErrMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("boom") }

// jsonEncodeCases are the values of the compatibility table.
func jsonEncodeCases() []struct {
	name string
	v    any
} {
	seven := 7
	cyc := &ccCycle{}
	cyc.Next = cyc
	return []struct {
		name string
		v    any
	}{
		{"embedded structs", ccEmbedded{ccInner: ccInner{A: 1}, ccInner2: &ccInner2{C: 2, D: "d"}, ccConflict1: ccConflict1{1}, ccConflict2: ccConflict2{2}, E: "e"}},
		{"embedded nil pointer", ccEmbedded{ccInner: ccInner{A: 1}}},
		{"embedded shadowed field", ccShadow{ccInner: ccInner{A: 1, B: "b"}, A: "outer"}},
		{"embedded non-struct", ccEmbInt{ccMyInt: 5, S: "s"}},
		{"embedded with tag", ccEmbTag{ccInner: ccInner{A: 1}}},
		{"omitempty, omitzero: zero", ccOmit{}},
		{"omitempty, omitzero: set", ccOmit{S: "s", I: 1, F: 1.5, B: true, P: &seven, Sl: []int{1}, M: map[string]int{"a": 1}, St: ccInner{A: 1}, T: time.Unix(1, 0).UTC(), Z: time.Unix(2, 0).UTC(), ZI: ccInner{A: 2}, If: 0}},
		{"omitempty: empty slice and map", ccOmit{Sl: []int{}, M: map[string]int{}}},
		{"string tags", ccStringTags{I: -3, F: 1.25, B: true, S: `he said "hi"`, U: 200, P: &seven, Sl: []int{1}, O: 2}},
		{"skipped and renamed fields", ccSkip{Dash: 1, DashC: 2, hidden: 3, Plain: 4, Quote: 5, Uni: 6, HTML: 7}},
		{"map: sorted string keys", map[string]int{"b": 2, "a": 1, "c": 3, "B": 4, "ä": 5, "": 6}},
		{"map: int keys", map[int]string{10: "ten", 2: "two", -1: "minus"}},
		{"map: TextMarshaler keys", map[ccTextKey]int{{"b", "1"}: 1, {"a", "2"}: 2}},
		{"map: nested any", map[string]any{"z": []any{1, "x", nil, true, 1.5}, "a": map[string]any{"y": 1, "b": nil}}},
		{"map: escaped keys", map[string]int{"<\\\"\u2028>": 1}},
		{"map: values with marshalers", map[string]any{"v": ccValMarshaler{1}, "t": ccValText{"x"}, "p": &ccPtrMarshaler{}}},
		{"time.Time UTC", time.Date(2024, 2, 29, 12, 30, 45, 123456789, time.UTC)},
		{"time.Time with zone", time.Date(2024, 2, 29, 12, 30, 45, 0, time.FixedZone("X", 5*3600+30*60))},
		{"time.Time zero", time.Time{}},
		{"time.Duration", 90 * time.Second},
		{"[]byte base64", ccBytes{B: []byte("hello, world\xff\x00"), E: []byte{}, A: [3]byte{1, 2, 3}, MB: ccMyBytes("hi")}},
		{"json.Marshaler with spaces and HTML in its output", ccValMarshaler{N: 3}},
		{"Marshaler, TextMarshaler, RawMessage, Number fields", ccHolder{V: ccValMarshaler{1}, P: ccPtrMarshaler{2}, PP: &ccPtrMarshaler{3}, T: ccValText{"t"}, TP: &ccValText{"tp"}, R: json.RawMessage(` [1, 2,  {"a" : "<b>"}] `), N: "12.50"}},
		{"pointer-receiver Marshaler, addressable", &ccHolder{P: ccPtrMarshaler{2}, R: json.RawMessage(`null`), N: "1"}},
		{"pointer-receiver Marshaler in a slice", []ccPtrMarshaler{{1}}},
		{"TextMarshaler", ccValText{"x&y"}},
		{"HTML escaping", map[string]string{"<k>": "<script>alert('x') && \"y\"</script>"}},
		{"U+2028 and U+2029", "a\u2028b\u2029c"},
		{"control characters", "\x00\x01\x1f\x7f\t\n\r\b\f\\/"},
		{"invalid UTF-8", "bad \xff\xfe utf8 \xc3\x28 end"},
		{"invalid UTF-8 in a map key", map[string]int{"k\xff": 1}},
		{"non-ASCII", "héllo wörld 日本語 🎉"},
		{"NaN refused", math.NaN()},
		{"+Inf refused", math.Inf(1)},
		{"NaN in a struct refused", ccFloats{F32: float32(math.NaN())}},
		{"float formatting", ccFloats{F32: 3.14159, F64: []float64{0, math.Copysign(0, -1), 1e20, 1e21, 1.5e-6, 1e-7, 123456789.123456789, 5e-324, math.MaxFloat64, 0.1 + 0.2, 100}}},
		{"float32 formatting", []float32{0.1, 1e20, 1e21, 1e-7, 16777217}},
		{"big numbers", ccInts{Max: math.MaxInt64, Min: math.MinInt64, UMax: math.MaxUint64, Big: new(big.Int).Lsh(big.NewInt(1), 100), BigF: big.NewFloat(1.5e300), Num: "123456789012345678901234567890"}},
		{"uint64 max in any", []any{uint64(math.MaxUint64), int8(-5), float32(0.1)}},
		{"invalid json.Number refused", ccInts{Num: "12a"}},
		{"nils and empties", ccNils{ES: []int{}, EM: map[string]int{}}},
		{"nil pointer in a slice of any", []any{nil, (*int)(nil)}},
		{"invalid Marshaler output refused", ccBadMarshaler{}},
		{"Marshaler error", ccErrMarshaler{}},
		{"cycle refused", cyc},
		{"unsupported type: chan", make(chan int)},
		{"unsupported type: func field", struct{ F func() }{F: func() {}}},
		{"unsupported map key", map[[2]int]int{{1, 2}: 3}},
		{"complex refused", complex(1, 2)},
		{"anonymous struct", struct {
			A int `json:"a"`
			C struct{ D []string }
		}{A: 1, C: struct{ D []string }{D: []string{"x"}}}},
		{"array", [3]int{1, 2, 3}},
	}
}

// jsonDecodeCases are the inputs of the compatibility table, with the
// target type.
func jsonDecodeCases() []struct {
	name string
	in   string
	t    reflect.Type
} {
	return []struct {
		name string
		in   string
		t    reflect.Type
	}{
		{"case-insensitive keys", `{"NAME":"x","other":"y"}`, typeOf[ccCaseFold]()},
		{"duplicate keys, the last wins", `{"name":"a","name":"b"}`, typeOf[ccCaseFold]()},
		{"unknown fields ignored", `{"zzz":1,"name":"a"}`, typeOf[ccCaseFold]()},
		{"numbers into any are float64", `{"E":12345678901234567890}`, typeOf[ccDecoded]()},
		{"nested any", `{"D":{"a":[1,"x",null,true,{"b":1.5}]}}`, typeOf[ccDecoded]()},
		{"null into non-pointers", `{"A":null,"B":null,"C":null}`, typeOf[ccDecoded]()},
		{"overflow of uint8", `{"G":300}`, typeOf[ccDecoded]()},
		{"int from a float", `{"A":1.5}`, typeOf[ccDecoded]()},
		{"int from an exponent", `{"A":1e3}`, typeOf[ccDecoded]()},
		{"wrong type", `{"A":"1"}`, typeOf[ccDecoded]()},
		{"array longer and shorter", `{"H":[1,2,3]}`, typeOf[ccDecoded]()},
		{"string tags", `{"i":"-3","f":"1.25","b":"true","s":"\"q\"","u":"200","p":"7","sl":[1]}`, typeOf[ccStringTags]()},
		{"string tag on an unquoted value", `{"i":3}`, typeOf[ccStringTags]()},
		{"base64", `{"b":"aGVsbG8=","n":null,"e":"","a":[1,2,3],"mb":"aGk="}`, typeOf[ccBytes]()},
		{"invalid base64", `{"b":"!!!"}`, typeOf[ccBytes]()},
		{"time.Time", `"2024-02-29T12:30:45.123456789+05:30"`, typeOf[time.Time]()},
		{"invalid time.Time", `"2024-02-30"`, typeOf[time.Time]()},
		{"TextUnmarshaler", `"<abc>"`, typeOf[ccValText]()},
		{"TextUnmarshaler map keys", `{"a/1":1,"b/2":2}`, typeOf[map[ccTextKey]int]()},
		{"int map keys", `{"10":1,"-2":2}`, typeOf[map[int]int]()},
		{"invalid UTF-8 in a string", "\"a\xffb\"", typeOf[string]()},
		{"lone surrogate escape", `"\ud800x"`, typeOf[string]()},
		{"escapes", `"\u00e9\n\/\u2028"`, typeOf[string]()},
		{"int64 overflow", `9223372036854775808`, typeOf[int64]()},
		{"uint64 max", `18446744073709551615`, typeOf[uint64]()},
		{"big.Int", `123456789012345678901234567890`, typeOf[*big.Int]()},
		{"json.Number", `1.50`, typeOf[json.Number]()},
		{"RawMessage", `{"r": [1, 2]}`, typeOf[struct {
			R json.RawMessage `json:"r"`
		}]()},
		{"trailing data", `{"A":1} x`, typeOf[ccDecoded]()},
		{"trailing value", `{"A":1}{}`, typeOf[ccDecoded]()},
		{"whitespace around", " \n{\"A\":1}\n ", typeOf[ccDecoded]()},
		{"truncated", `{"A":`, typeOf[ccDecoded]()},
		{"NaN literal", `NaN`, typeOf[float64]()},
		{"leading zero", `01`, typeOf[int]()},
		{"float overflow", `1e400`, typeOf[float64]()},
		{"negative into uint", `-1`, typeOf[uint]()},
		{"embedded fields", `{"a":1,"X":3,"e":"y"}`, typeOf[ccEmbedded]()},
		{"embedded pointer to an unexported struct", `{"C":2}`, typeOf[ccEmbedded]()},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), typeOf[any]()},
	}
}

// goJSONDifferences are the cases of the table where GoJSON differs from
// encoding/json (beyond error messages), and how.
var goJSONDifferences = map[string]string{
	"string tag on an unquoted value":          "go-json's error is a *json.UnmarshalTypeError, encoding/json's a plain error",
	"invalid base64":                           "go-json's error is a *json.UnmarshalTypeError wrapping base64.CorruptInputError, encoding/json's the CorruptInputError",
	"embedded pointer to an unexported struct": "go-json's error is a *json.UnmarshalTypeError, encoding/json's a plain error",
}

// TestJSONCodecCompatibility encodes and decodes the table above with a
// JSON serde on encoding/json and one on GoJSON, and reports where they
// differ: encoded bytes and type header, decoded values, whether an error
// is returned, whether it matches encoding/json's error types and the
// serde's sentinels with errors.As and errors.Is, and (logged, not
// failed) its message. A difference not in goJSONDifferences fails the
// test, and so does an entry there that no longer differs.
func TestJSONCodecCompatibility(t *testing.T) {
	std := serde.NewJSON()
	stdStrict := serde.NewJSON(serde.DisallowUnknownFields(), serde.UseNumber())
	for _, c := range []serde.JSONCodec{serde.GoJSON()} {
		t.Run(c.String(), func(t *testing.T) {
			other := serde.NewJSON(serde.WithJSONCodec(c))
			otherStrict := serde.NewJSON(serde.WithJSONCodec(c), serde.DisallowUnknownFields(), serde.UseNumber())
			cases, diffs, messages := 0, 0, 0
			report := func(kind, name string, format string, args ...any) {
				t.Logf("%-9s %-50s %s", kind, name, fmt.Sprintf(format, args...))
			}
			for _, tc := range jsonEncodeCases() {
				cases++
				var wantHs, gotHs []kgo.RecordHeader
				want, werr := std.Serialize("t", &wantHs, tc.v)
				got, gerr := other.Serialize("t", &gotHs, tc.v)
				switch {
				case !bytes.Equal(want, got) || !reflect.DeepEqual(wantHs, gotHs):
					diffs++
					report("DIFFERS", tc.name, "encoding/json %q %v, %s %q %v", want, wantHs, c, got, gotHs)
					t.Errorf("%s: encodes differently", tc.name)
				case !sameError(werr, gerr):
					diffs++
					report("DIFFERS", tc.name, "encoding/json error %v, %s error %v", werr, c, gerr)
					if goJSONDifferences[tc.name] == "" {
						t.Errorf("%s: errors differ", tc.name)
					}
				case goJSONDifferences[tc.name] != "":
					t.Errorf("%s: listed as differing, but does not", tc.name)
				case werr != nil && werr.Error() != gerr.Error():
					messages++
					report("message", tc.name, "encoding/json: %v | %s: %v", werr, c, gerr)
				}
			}
			for _, tc := range jsonDecodeCases() {
				for _, p := range [][2]*serde.JSON{{std, other}, {stdStrict, otherStrict}} {
					cases++
					want, werr := p[0].Deserialize("t", nil, []byte(tc.in), tc.t)
					got, gerr := p[1].Deserialize("t", nil, []byte(tc.in), tc.t)
					name := tc.name
					if p[0] == stdStrict {
						name += " (strict, UseNumber)"
					}
					switch {
					case !reflect.DeepEqual(want, got):
						diffs++
						report("DIFFERS", name, "encoding/json %#v, %s %#v", want, c, got)
						t.Errorf("%s: decodes differently", name)
					case !sameError(werr, gerr):
						diffs++
						report("DIFFERS", name, "%s (encoding/json: %v | %s: %v)", goJSONDifferences[tc.name], werr, c, gerr)
						if goJSONDifferences[tc.name] == "" {
							t.Errorf("%s: errors differ", name)
						}
					case goJSONDifferences[tc.name] != "":
						t.Errorf("%s: listed as differing, but does not", name)
					case werr != nil && werr.Error() != gerr.Error():
						messages++
						report("message", name, "encoding/json: %v | %s: %v", werr, c, gerr)
					}
				}
			}
			t.Logf("%s against encoding/json: %d cases, %d differences, %d error messages differ", c, cases, diffs, messages)
		})
	}
}

// sameError reports whether two errors agree: both nil, or both not nil
// and matching the same encoding/json error types and serde sentinels.
func sameError(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	matches := func(err error) [9]bool {
		var (
			ute *json.UnsupportedTypeError
			uve *json.UnsupportedValueError
			me  *json.MarshalerError
			se  *json.SyntaxError
			ume *json.UnmarshalTypeError
			iue *json.InvalidUnmarshalError
			de  *serde.DeserializationError
		)
		return [9]bool{
			errors.As(err, &ute), errors.As(err, &uve), errors.As(err, &me), errors.As(err, &se),
			errors.As(err, &ume), errors.As(err, &iue), errors.As(err, &de),
			errors.Is(err, serde.ErrUnsupportedType), errors.Is(err, serde.ErrUnknownType),
		}
	}
	return matches(a) == matches(b)
}

// TestJSONCodecGarbage feeds the garbage corpus to JSON serdes on every
// codec: failures must be *DeserializationError carrying the input, and
// nothing may panic.
func TestJSONCodecGarbage(t *testing.T) {
	for _, c := range []serde.JSONCodec{serde.StdJSON(), serde.GoJSON()} {
		for _, d := range []*serde.JSON{
			serde.NewJSON(serde.WithJSONCodec(c)),
			serde.NewJSON(serde.WithJSONCodec(c), serde.DisallowUnknownFields(), serde.UseNumber()),
		} {
			for _, data := range garbage {
				for _, target := range garbageTargets {
					_, err := d.Deserialize("t", nil, data, target)
					var de *serde.DeserializationError
					if err != nil && (!errors.As(err, &de) || !bytes.Equal(de.Data, data)) {
						t.Errorf("%s: %s: %q: %v", c, target, data, err)
					}
				}
			}
		}
	}
}

func TestParseJSONCodec(t *testing.T) {
	for _, name := range []string{"", "encoding/json", "go-json"} {
		c, err := serde.ParseJSONCodec(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if want := cmpOr(name, "encoding/json"); c.String() != want {
			t.Errorf("%q: codec %s", name, c)
		}
	}
	if _, err := serde.ParseJSONCodec("sonic"); err == nil {
		t.Error("unknown codec accepted")
	}
	// The zero JSONCodec is encoding/json; JSONFor takes the option too.
	if (serde.JSONCodec{}).String() != "encoding/json" {
		t.Error("zero codec")
	}
	orders := serde.JSONFor[Order](serde.WithJSONCodec(serde.GoJSON()))
	b, err := orders.Encode("t", nil, Order{ID: 1, Item: "<b>"})
	if err != nil || string(b) != `{"id":1,"item":"\u003cb\u003e"}` {
		t.Fatalf("JSONFor with GoJSON: %s, %v", b, err)
	}
	if o, err := orders.Decode("t", nil, b); err != nil || o != (Order{ID: 1, Item: "<b>"}) {
		t.Fatalf("decode: %v, %v", o, err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestJSONTypeHeaderAfterRegistration checks that the type header follows
// a registration made after values of the type were serialized (the
// header's value is cached per type).
func TestJSONTypeHeaderAfterRegistration(t *testing.T) {
	for _, c := range []serde.JSONCodec{serde.StdJSON(), serde.GoJSON()} {
		j := serde.NewJSON(serde.WithJSONCodec(c))
		for _, want := range []string{"serde_test.Order", "order"} {
			var hs []kgo.RecordHeader
			if _, err := j.Serialize("t", &hs, Order{ID: 1}); err != nil {
				t.Fatal(err)
			}
			if got := header(hs, serde.TypeIDHeader); got != want {
				t.Fatalf("%s: header %q, want %q", c, got, want)
			}
			if _, err := j.Serialize("t", &hs, Refund{}); err != nil || header(hs, serde.TypeIDHeader) != "serde_test.Refund" {
				t.Fatalf("%s: Refund header %v, %v", c, hs, err)
			}
			if err := j.Registry().Register("order", Order{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
