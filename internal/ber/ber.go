// Package ber is the small BER codec of ldapgate's LDAP side (RFC 4511
// §5.1, definite lengths, low tag numbers): a zero-copy TLV reader over a
// message buffer and an Encoder that builds elements straight into a byte
// slice. The connection layer (ldapserver) frames and decodes messages
// with it; the directory packs entries' values in BER with it, so that a
// search copies them into responses as they are.
package ber

import (
	"errors"
	"fmt"
)

// BER identifier octets used by LDAP.
const (
	TagBoolean     = 0x01
	TagInteger     = 0x02
	TagOctetString = 0x04
	TagEnumerated  = 0x0a
	TagSequence    = 0x30
	TagSet         = 0x31

	ClassUniversal   = 0x00
	ClassApplication = 0x40
	ClassContext     = 0x80
	Constructed      = 0x20
)

// ErrMalformed wraps the errors of elements that do not decode.
var ErrMalformed = errors.New("malformed ldap message")

// TLV is one decoded BER element; Content points into the decoded buffer.
type TLV struct {
	ID      byte // identifier octet: class | constructed | tag
	Content []byte
}

// Class returns the class bits of the identifier (ClassContext, ...).
func (t TLV) Class() byte { return t.ID & 0xc0 }

// Constructed reports whether the element holds elements.
func (t TLV) Constructed() bool { return t.ID&Constructed != 0 }

// Tag returns the tag number.
func (t TLV) Tag() byte { return t.ID & 0x1f }

// Str returns the content as a new string.
func (t TLV) Str() string { return string(t.Content) }

// Children walks the elements of a constructed element.
func (t TLV) Children() Iter { return Iter{rest: t.Content} }

// Next reads one element from b and returns it and the rest of b. Only
// low tag numbers (< 31) and definite lengths are accepted, as LDAP uses.
func Next(b []byte) (TLV, []byte, error) {
	if len(b) < 2 {
		return TLV{}, nil, fmt.Errorf("%w: truncated element", ErrMalformed)
	}
	id := b[0]
	if id&0x1f == 0x1f {
		return TLV{}, nil, fmt.Errorf("%w: high tag number", ErrMalformed)
	}
	l0 := b[1]
	b = b[2:]
	var length int
	switch {
	case l0 < 0x80:
		length = int(l0)
	case l0 == 0x80:
		return TLV{}, nil, fmt.Errorf("%w: indefinite length", ErrMalformed)
	default:
		k := int(l0 & 0x7f)
		if k > 4 || len(b) < k {
			return TLV{}, nil, fmt.Errorf("%w: bad length", ErrMalformed)
		}
		for i := range k {
			length = length<<8 | int(b[i])
		}
		b = b[k:]
	}
	if length < 0 || length > len(b) {
		return TLV{}, nil, fmt.Errorf("%w: element longer than its container", ErrMalformed)
	}
	return TLV{ID: id, Content: b[:length:length]}, b[length:], nil
}

// Iter walks the children of a constructed element.
type Iter struct {
	rest []byte
	Err  error
}

// More reports whether another child follows and no error stopped the walk.
func (it *Iter) More() bool { return len(it.rest) > 0 && it.Err == nil }

// Next returns the next child; after an error it returns the zero TLV and
// the error sticks.
func (it *Iter) Next() TLV {
	if it.Err != nil {
		return TLV{}
	}
	if len(it.rest) == 0 {
		it.Err = fmt.Errorf("%w: missing element", ErrMalformed)
		return TLV{}
	}
	t, rest, err := Next(it.rest)
	if err != nil {
		it.Err = err
		return TLV{}
	}
	it.rest = rest
	return t
}

// Expect returns the next child, which must have identifier id.
func (it *Iter) Expect(id byte, what string) TLV {
	t := it.Next()
	if it.Err == nil && t.ID != id {
		it.Err = fmt.Errorf("%w: %s: identifier 0x%02x, want 0x%02x", ErrMalformed, what, t.ID, id)
	}
	return t
}

// ParseInt decodes a BER INTEGER or ENUMERATED content of at most 8 octets.
func ParseInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, fmt.Errorf("%w: integer of %d octets", ErrMalformed, len(b))
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v, nil
}

// ParseBool decodes a BER BOOLEAN.
func ParseBool(t TLV) (bool, error) {
	if t.ID != TagBoolean || len(t.Content) != 1 {
		return false, fmt.Errorf("%w: bad BOOLEAN", ErrMalformed)
	}
	return t.Content[0] != 0, nil
}

// Span returns the header length and the whole length of the BER
// element at the start of b, which must be well formed (made by Encoder).
func Span(b []byte) (hdr, total int) {
	l := int(b[1])
	if l < 0x80 {
		return 2, 2 + l
	}
	k := l & 0x7f
	n := 0
	for _, c := range b[2 : 2+k] {
		n = n<<8 | int(c)
	}
	return 2 + k, 2 + k + n
}

// Encoder builds BER into B. Open appends an identifier and a one-octet
// length placeholder; Close fixes the length, moving the content when it
// needs the long form.
type Encoder struct {
	B []byte
}

// Reset empties B, keeping its memory.
func (e *Encoder) Reset() { e.B = e.B[:0] }

// Open starts a constructed element and returns its mark for Close.
func (e *Encoder) Open(id byte) int {
	e.B = append(e.B, id, 0)
	return len(e.B)
}

// Close ends the constructed element Open returned mark for.
func (e *Encoder) Close(mark int) {
	n := len(e.B) - mark
	if n < 0x80 {
		e.B[mark-1] = byte(n)
		return
	}
	k := 1
	for v := n >> 8; v > 0; v >>= 8 {
		k++
	}
	e.B = append(e.B, make([]byte, k)...)
	copy(e.B[mark+k:], e.B[mark:mark+n])
	e.B[mark-1] = 0x80 | byte(k)
	for i := range k {
		e.B[mark+i] = byte(n >> (8 * (k - 1 - i)))
	}
}

func (e *Encoder) appendLength(n int) {
	switch {
	case n < 0x80:
		e.B = append(e.B, byte(n))
	case n < 1<<8:
		e.B = append(e.B, 0x81, byte(n))
	case n < 1<<16:
		e.B = append(e.B, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		e.B = append(e.B, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		e.B = append(e.B, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// Str appends a primitive element of identifier id holding s.
func (e *Encoder) Str(id byte, s string) {
	e.B = append(e.B, id)
	e.appendLength(len(s))
	e.B = append(e.B, s...)
}

// Bytes appends a primitive element of identifier id holding s.
func (e *Encoder) Bytes(id byte, s []byte) {
	e.B = append(e.B, id)
	e.appendLength(len(s))
	e.B = append(e.B, s...)
}

// Int appends an INTEGER or ENUMERATED (identifier id) holding v.
func (e *Encoder) Int(id byte, v int64) {
	var tmp [8]byte
	n := 1
	for n < 8 && (v >= 0 && v >= 1<<(8*n-1) || v < 0 && v < -(1<<(8*n-1))) {
		n++
	}
	for i := range n {
		tmp[i] = byte(v >> (8 * (n - 1 - i)))
	}
	e.B = append(e.B, id, byte(n))
	e.B = append(e.B, tmp[:n]...)
}
