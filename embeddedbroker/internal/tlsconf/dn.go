package tlsconf

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DistinguishedName renders a certificate's subject as Java's
// X500Principal.getName() does (RFC 2253, sun.security.x509.AVA's
// toRFC2253String), which is the string Kafka's principal mapping rules
// match: "CN=alice,OU=eng,O=Example Corp,C=US".
//
//   - RDNs most specific first: the reverse of their order in the
//     certificate; the values of a multi-valued RDN in their encoded order,
//     joined with "+".
//   - Attribute types by the keywords of RFC 2253 (CN, C, L, ST, O, OU,
//     STREET, DC, UID); any other (emailAddress, serialNumber, ...) by its
//     dotted OID, with the value as "#" and the hex of its DER encoding.
//   - Values of the string types Java reads (UTF8String, PrintableString,
//     IA5String, T61String, GeneralString, BMPString) as text; others
//     (NumericString, UniversalString, ...) as "#" and hex too.
//   - Escapes: a backslash before each of , = + < > # ; " \ anywhere
//     (Java escapes = and # everywhere, beyond RFC 2253's leading #),
//     "\00" for NUL, and a backslash before each leading or trailing space
//     or carriage return. Other characters, non-ASCII ones included, are
//     kept as they are.
func DistinguishedName(cert *x509.Certificate) string {
	dn, ok := rfc2253(cert.RawSubject)
	if !ok {
		// crypto/x509 parsed this subject, so this does not happen.
		return cert.Subject.String()
	}
	return dn
}

// attributeTypeAndValue is one AVA of an RDN, its value raw.
type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rfc2253 renders a DER Name.
func rfc2253(raw []byte) (string, bool) {
	var rdns []asn1.RawValue
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return "", false
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		var avas []attributeTypeAndValue
		if rest, err := asn1.UnmarshalWithParams(rdns[i].FullBytes, &avas, "set"); err != nil || len(rest) > 0 {
			return "", false
		}
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, ava := range avas {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAVA(&b, ava)
		}
	}
	return b.String(), true
}

// rfc2253Keyword is the keyword Java's RFC 2253 form uses for an
// attribute type; "" for the others.
func rfc2253Keyword(oid asn1.ObjectIdentifier) string {
	switch oid.String() {
	case "2.5.4.3":
		return "CN"
	case "2.5.4.6":
		return "C"
	case "2.5.4.7":
		return "L"
	case "2.5.4.8":
		return "ST"
	case "2.5.4.9":
		return "STREET"
	case "2.5.4.10":
		return "O"
	case "2.5.4.11":
		return "OU"
	case "0.9.2342.19200300.100.1.25":
		return "DC"
	case "0.9.2342.19200300.100.1.1":
		return "UID"
	}
	return ""
}

// writeAVA writes TYPE=value as sun.security.x509.AVA.toRFC2253String.
func writeAVA(b *strings.Builder, ava attributeTypeAndValue) {
	kw := rfc2253Keyword(ava.Type)
	text, isString := avaString(ava.Value)
	if kw == "" || !isString {
		if kw == "" {
			kw = ava.Type.String()
		}
		b.WriteString(kw)
		b.WriteString("=#")
		b.WriteString(hex.EncodeToString(ava.Value.FullBytes))
		return
	}
	b.WriteString(kw)
	b.WriteByte('=')
	// First the escapes of special characters, then a backslash before
	// each leading and trailing blank (space or CR) of the result, as Java
	// does it.
	var e strings.Builder
	for _, r := range text {
		switch r {
		case ',', '=', '+', '<', '>', '#', ';', '"', '\\':
			e.WriteByte('\\')
			e.WriteRune(r)
		case 0:
			e.WriteString(`\00`)
		default:
			e.WriteRune(r)
		}
	}
	esc := e.String()
	blank := func(c byte) bool { return c == ' ' || c == '\r' }
	lead := 0
	for lead < len(esc) && blank(esc[lead]) {
		lead++
	}
	trail := len(esc)
	for trail > lead && blank(esc[trail-1]) {
		trail--
	}
	for i := 0; i < lead; i++ {
		b.WriteByte('\\')
		b.WriteByte(esc[i])
	}
	b.WriteString(esc[lead:trail])
	for i := trail; i < len(esc); i++ {
		b.WriteByte('\\')
		b.WriteByte(esc[i])
	}
}

// ASN.1 universal tags of the string types.
const (
	tagUTF8String      = 12
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagGeneralString   = 27
	tagBMPString       = 30
)

// avaString decodes a value of a string type Java renders as text.
func avaString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case tagUTF8String, tagPrintableString, tagIA5String, tagGeneralString:
		return decodeUTF8(v.Bytes), true
	case tagT61String:
		// Java reads T61String as ISO-8859-1.
		var b strings.Builder
		for _, c := range v.Bytes {
			b.WriteRune(rune(c))
		}
		return b.String(), true
	case tagBMPString:
		if len(v.Bytes)%2 != 0 {
			return decodeUTF8(v.Bytes), true
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// decodeUTF8 decodes UTF-8, each invalid byte becoming U+FFFD.
func decodeUTF8(p []byte) string {
	if utf8.Valid(p) {
		return string(p)
	}
	var b strings.Builder
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		b.WriteRune(r)
		p = p[n:]
	}
	return b.String()
}
