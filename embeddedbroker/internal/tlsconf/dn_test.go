package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
	"unicode/utf16"
)

// DER building blocks for subjects crypto/x509 would not write itself.
func derName(rdns ...[]byte) []byte { return derTLV(asn1.TagSequence, true, rdns...) }
func derRDN(avas ...[]byte) []byte  { return derTLV(asn1.TagSet, true, avas...) }
func derAVA(oid asn1.ObjectIdentifier, tag int, value []byte) []byte {
	o, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return derTLV(asn1.TagSequence, true, o, derTLV(tag, false, value))
}
func derTLV(tag int, compound bool, content ...[]byte) []byte {
	var c []byte
	for _, p := range content {
		c = append(c, p...)
	}
	b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, IsCompound: compound, Bytes: c})
	if err != nil {
		panic(err)
	}
	return b
}
func bmp(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

var (
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrgUnit    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidEmail      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// TestDistinguishedName checks DistinguishedName against what Java's
// X500Principal.getName() gives for the same certificates (JDK 25; JDK 17
// agrees but for T61String and BMPString, which it decodes as UTF-8).
func TestDistinguishedName(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer := &x509.Certificate{Subject: pkix.Name{CommonName: "issuer"}}
	for _, tc := range []struct {
		name    string
		subject pkix.Name
		raw     []byte
		want    string
	}{
		{"CN and OU", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}}, nil, `CN=alice,OU=eng`},
		{"all of pkix.Name", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Example Corp"},
			Country: []string{"US"}, Province: []string{"CA"}, Locality: []string{"San Francisco"}, StreetAddress: []string{"1 Main St"},
			PostalCode: []string{"94000"}, SerialNumber: "42"}, nil,
			`2.5.4.5=#13023432,CN=alice,OU=eng,O=Example Corp,2.5.4.17=#13053934303030,STREET=1 Main St,L=San Francisco,ST=CA,C=US`},
		{"specials", pkix.Name{CommonName: `a,b+c"d\e<f>g;h=i#j`}, nil, `CN=a\,b\+c\"d\\e\<f\>g\;h\=i\#j`},
		{"leading spaces", pkix.Name{CommonName: "  lead"}, nil, `CN=\ \ lead`},
		{"trailing spaces", pkix.Name{CommonName: "trail  "}, nil, `CN=trail\ \ `},
		{"one space", pkix.Name{CommonName: " "}, nil, `CN=\ `},
		{"leading hash", pkix.Name{CommonName: "#hash"}, nil, `CN=\#hash`},
		{"blanks and escapes at the ends", pkix.Name{CommonName: " #a, "}, nil, `CN=\ \#a\,\ `},
		{"carriage returns", pkix.Name{CommonName: "\r x \r"}, nil, "CN=\\\r\\ x\\ \\\r"},
		{"tabs", pkix.Name{CommonName: "\tx\t"}, nil, "CN=\tx\t"},
		{"NUL", pkix.Name{CommonName: "a\x00b"}, nil, `CN=a\00b`},
		{"non-ASCII", pkix.Name{CommonName: "Jürgen Ä 日本 😀"}, nil, "CN=Jürgen Ä 日本 😀"},
		{"two OUs in one RDN", pkix.Name{CommonName: "x", OrganizationalUnit: []string{"b", "a"}}, nil, `CN=x,OU=a+OU=b`},
		{"keywords and OIDs", pkix.Name{CommonName: "x", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidEmail, Value: "x@example.com"},
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "example"},
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "uid1"},
			{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "other"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: "Surname"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: "Given"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 12}, Value: "Title"},
		}}, nil, `2.5.4.12=#13055469746c65,2.5.4.42=#1305476976656e,2.5.4.4=#13075375726e616d65,1.2.3.4=#13056f74686572,UID=uid1,DC=example,1.2.840.113549.1.9.1=#0c0d78406578616d706c652e636f6d,CN=x`},
		{"empty subject", pkix.Name{}, nil, ``},
		{"empty value", pkix.Name{}, derName(derRDN(derAVA(oidCommonName, asn1.TagUTF8String, nil))), `CN=`},
		{"IA5String", pkix.Name{}, derName(derRDN(derAVA(oidCommonName, asn1.TagIA5String, []byte("ia5 x")))), `CN=ia5 x`},
		{"T61String", pkix.Name{}, derName(derRDN(derAVA(oidCommonName, asn1.TagT61String, []byte{'a', 0xE9, 'b'}))), "CN=aéb"},
		{"BMPString", pkix.Name{}, derName(derRDN(derAVA(oidCommonName, asn1.TagBMPString, bmp("é日,")))), `CN=é日\,`},
		{"BMPString blanks", pkix.Name{}, derName(derRDN(derAVA(oidCommonName, asn1.TagBMPString, bmp(" +x ")))), `CN=\ \+x\ `},
		{"NumericString", pkix.Name{}, derName(derRDN(derAVA(oidCommonName, asn1.TagNumericString, []byte("123")))), `CN=#1203313233`},
		{"multi-valued RDN in encoded order", pkix.Name{}, derName(derRDN(
			derAVA(oidOrgUnit, asn1.TagUTF8String, []byte("z")),
			derAVA(oidCommonName, asn1.TagUTF8String, []byte("y")),
			derAVA(oidOrgUnit, asn1.TagUTF8String, []byte("a")))), `OU=z+CN=y+OU=a`},
		{"OID type with a string value", pkix.Name{}, derName(
			derRDN(derAVA(oidEmail, asn1.TagUTF8String, []byte("x@y"))),
			derRDN(derAVA(oidCommonName, asn1.TagPrintableString, []byte("p")))), `CN=p,1.2.840.113549.1.9.1=#0c03784079`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: tc.subject, RawSubject: tc.raw,
				NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"x"}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, key)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if got := DistinguishedName(cert); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
