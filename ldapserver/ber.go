package ldapserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// The wire format (RFC 4511 §5.1): every LDAPMessage is one BER SEQUENCE
// with definite lengths. The connection layer reads the outer header itself
// (so the size bound is the server's, not asn1-ber's process-wide
// MaxPacketLengthBytes), then decodes the message with the small zero-copy
// TLV reader below (search filters too: see parseFilterBER). Responses are
// encoded once, straight into a byte slice, by encoder.

// BER identifier octets used by LDAP.
const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30
	tagSet         = 0x31

	classUniversal   = 0x00
	classApplication = 0x40
	classContext     = 0x80
	constructedBit   = 0x20
)

// Protocol operations (application tag numbers, RFC 4511 §4).
const (
	opBindRequest      = 0
	opBindResponse     = 1
	opUnbindRequest    = 2
	opSearchRequest    = 3
	opSearchEntry      = 4
	opSearchDone       = 5
	opModifyRequest    = 6
	opModifyResponse   = 7
	opAddRequest       = 8
	opAddResponse      = 9
	opDelRequest       = 10
	opDelResponse      = 11
	opModDNRequest     = 12
	opModDNResponse    = 13
	opCompareRequest   = 14
	opCompareResponse  = 15
	opAbandonRequest   = 16
	opExtendedRequest  = 23
	opExtendedResponse = 24
)

// Framing errors. Any of them ends the connection (RFC 4511 §4.1.1).
var (
	errMessageTooLarge = errors.New("ldap message larger than the limit")
	errBadFraming      = errors.New("malformed ldap message framing")
	errBadMessage      = errors.New("malformed ldap message")
	// errMidFrame wraps a read error after the first octet of a message:
	// the stream cannot be resumed.
	errMidFrame = errors.New("connection failed inside a message")
)

// errBusy refuses a message when the server holds too many bytes of
// messages still arriving (see byteBudget).
var errBusy = errors.New("too many bytes of unfinished ldap messages in the server")

// readFrame reads one LDAPMessage (header and body) from r into buf (reused
// when large enough) and returns it. A message longer than max is refused
// before its body is read (limit). The bytes of a message held beyond buf's
// capacity come from budget (nil: no bound) until the message is complete.
func readFrame(r *bufio.Reader, buf []byte, limit int64, budget *byteBudget) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != tagSequence {
		return nil, fmt.Errorf("%w: first octet 0x%02x, want a SEQUENCE", errBadFraming, tag)
	}
	l0, err := r.ReadByte()
	if err != nil {
		return nil, unexpected(err)
	}
	hdr := [6]byte{tag, l0}
	n := 2
	var length int64
	switch {
	case l0 < 0x80:
		length = int64(l0)
	case l0 == 0x80:
		return nil, fmt.Errorf("%w: indefinite length", errBadFraming)
	default:
		k := int(l0 & 0x7f)
		if k > 4 {
			return nil, fmt.Errorf("%w: %d length octets", errMessageTooLarge, k)
		}
		for range k {
			b, err := r.ReadByte()
			if err != nil {
				return nil, unexpected(err)
			}
			hdr[n] = b
			n++
			length = length<<8 | int64(b)
		}
	}
	if length > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errMessageTooLarge, length, limit)
	}
	total := n + int(length)
	// Memory follows the bytes that arrived, not the length announced: a
	// client that announces a large message and sends it slowly holds
	// little, and what it holds counts against the budget.
	const chunk = 64 << 10
	if c := min(total, readBufferSize); cap(buf) < c {
		buf = make([]byte, 0, c)
	}
	var held int64
	defer func() { budget.give(held) }()
	buf = append(buf[:0], hdr[:n]...)
	for len(buf) < total {
		want := min(total, len(buf)+chunk)
		if want > cap(buf) {
			grown := min(total, max(want, 2*cap(buf)))
			if !budget.take(int64(grown - cap(buf))) {
				return nil, errBusy
			}
			held += int64(grown - cap(buf))
			buf = append(make([]byte, 0, grown), buf...)
		}
		if _, err := io.ReadFull(r, buf[len(buf):want]); err != nil {
			return nil, unexpected(err)
		}
		buf = buf[:want]
	}
	return buf, nil
}

// byteBudget bounds the bytes that messages still arriving hold, over all
// connections: thousands of clients that each send all but the last byte
// of a large message would otherwise hold gigabytes. A nil budget has no
// bound.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

func newByteBudget(limit int64) *byteBudget { return &byteBudget{limit: limit} }

// take reserves n bytes and reports whether they were within the limit.
func (b *byteBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes that take reserved.
func (b *byteBudget) give(n int64) {
	if b != nil && n > 0 {
		b.used.Add(-n)
	}
}

// frameBuffered reports whether r's buffer holds the whole of the message
// that starts in it.
func frameBuffered(r *bufio.Reader) bool {
	h, _ := r.Peek(min(r.Buffered(), 6))
	if len(h) < 2 {
		return false
	}
	total := 2 + int(h[1])
	if h[1] >= 0x80 {
		k := int(h[1] & 0x7f)
		if k > 4 || len(h) < 2+k {
			return false
		}
		length := 0
		for _, b := range h[2 : 2+k] {
			length = length<<8 | int(b)
		}
		total = 2 + k + length
	}
	return total <= r.Buffered()
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", errMidFrame, err)
}

// tlv is one decoded BER element; content points into the message buffer.
type tlv struct {
	id      byte // identifier octet: class | constructed | tag
	content []byte
}

func (t tlv) class() byte       { return t.id & 0xc0 }
func (t tlv) constructed() bool { return t.id&constructedBit != 0 }
func (t tlv) tag() byte         { return t.id & 0x1f }
func (t tlv) str() string       { return string(t.content) }
func (t tlv) children() tlvIter { return tlvIter{rest: t.content} }

// next reads one element from b and returns it and the rest of b. Only
// low tag numbers (< 31) and definite lengths are accepted, as LDAP uses.
func next(b []byte) (tlv, []byte, error) {
	if len(b) < 2 {
		return tlv{}, nil, fmt.Errorf("%w: truncated element", errBadMessage)
	}
	id := b[0]
	if id&0x1f == 0x1f {
		return tlv{}, nil, fmt.Errorf("%w: high tag number", errBadMessage)
	}
	l0 := b[1]
	b = b[2:]
	var length int
	switch {
	case l0 < 0x80:
		length = int(l0)
	case l0 == 0x80:
		return tlv{}, nil, fmt.Errorf("%w: indefinite length", errBadMessage)
	default:
		k := int(l0 & 0x7f)
		if k > 4 || len(b) < k {
			return tlv{}, nil, fmt.Errorf("%w: bad length", errBadMessage)
		}
		for i := range k {
			length = length<<8 | int(b[i])
		}
		b = b[k:]
	}
	if length < 0 || length > len(b) {
		return tlv{}, nil, fmt.Errorf("%w: element longer than its container", errBadMessage)
	}
	return tlv{id: id, content: b[:length:length]}, b[length:], nil
}

// tlvIter walks the children of a constructed element.
type tlvIter struct {
	rest []byte
	err  error
}

func (it *tlvIter) more() bool { return len(it.rest) > 0 && it.err == nil }

// next returns the next child; after an error it returns the zero tlv and
// the error sticks.
func (it *tlvIter) next() tlv {
	if it.err != nil {
		return tlv{}
	}
	if len(it.rest) == 0 {
		it.err = fmt.Errorf("%w: missing element", errBadMessage)
		return tlv{}
	}
	t, rest, err := next(it.rest)
	if err != nil {
		it.err = err
		return tlv{}
	}
	it.rest = rest
	return t
}

// expect returns the next child, which must have identifier id.
func (it *tlvIter) expect(id byte, what string) tlv {
	t := it.next()
	if it.err == nil && t.id != id {
		it.err = fmt.Errorf("%w: %s: identifier 0x%02x, want 0x%02x", errBadMessage, what, t.id, id)
	}
	return t
}

// parseInt decodes a BER INTEGER or ENUMERATED content of at most 8 octets.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, fmt.Errorf("%w: integer of %d octets", errBadMessage, len(b))
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v, nil
}

func parseBool(t tlv) (bool, error) {
	if t.id != tagBoolean || len(t.content) != 1 {
		return false, fmt.Errorf("%w: bad BOOLEAN", errBadMessage)
	}
	return t.content[0] != 0, nil
}

// message is a decoded LDAPMessage.
type message struct {
	id       int32
	op       byte // application tag number of protocolOp
	body     tlv  // protocolOp
	controls []control
}

// control is a request control (RFC 4511 §4.1.11).
type control struct {
	oid      string
	critical bool
	value    []byte
	hasValue bool
}

// decodeMessageInto decodes the envelope of an LDAPMessage into m, which
// it overwrites: the message ID, the protocolOp and the controls. The op's
// own fields are decoded by its handler. Errors here mean the message
// cannot be answered.
func decodeMessageInto(m *message, b []byte) error {
	*m = message{}
	top, rest, err := next(b)
	if err != nil {
		return err
	}
	if top.id != tagSequence || len(rest) != 0 {
		return fmt.Errorf("%w: not one SEQUENCE", errBadMessage)
	}
	it := top.children()
	idt := it.expect(tagInteger, "messageID")
	if it.err != nil {
		return it.err
	}
	id, err := parseInt(idt.content)
	if err != nil || id < 0 || id > 1<<31-1 {
		return fmt.Errorf("%w: bad messageID", errBadMessage)
	}
	m.id = int32(id)
	m.body = it.next()
	if it.err != nil {
		return it.err
	}
	if m.body.class() != classApplication {
		return fmt.Errorf("%w: protocolOp is not an application tag", errBadMessage)
	}
	m.op = m.body.tag()
	if it.more() {
		ct := it.next()
		if it.err != nil {
			return it.err
		}
		if ct.id != classContext|constructedBit|0 {
			return fmt.Errorf("%w: unexpected element after protocolOp", errBadMessage)
		}
		m.controls, err = decodeControls(ct)
		if err != nil {
			return err
		}
	}
	if it.more() {
		return fmt.Errorf("%w: trailing elements", errBadMessage)
	}
	return it.err
}

const maxControls = 32

func decodeControls(t tlv) ([]control, error) {
	var out []control
	it := t.children()
	for it.more() {
		c := it.expect(tagSequence, "control")
		if it.err != nil {
			return nil, it.err
		}
		if len(out) == maxControls {
			return nil, fmt.Errorf("%w: more than %d controls", errBadMessage, maxControls)
		}
		ci := c.children()
		var ctl control
		ctl.oid = ci.expect(tagOctetString, "controlType").str()
		for ci.more() {
			e := ci.next()
			switch {
			case e.id == tagBoolean && !ctl.hasValue:
				b, err := parseBool(e)
				if err != nil {
					return nil, err
				}
				ctl.critical = b
			case e.id == tagOctetString && !ctl.hasValue:
				ctl.value, ctl.hasValue = e.content, true
			default:
				return nil, fmt.Errorf("%w: bad control", errBadMessage)
			}
		}
		if ci.err != nil {
			return nil, ci.err
		}
		out = append(out, ctl)
	}
	return out, it.err
}

// encoder builds BER into a byte slice. open appends an identifier and a
// one-octet length placeholder; close fixes the length, moving the content
// when it needs the long form.
type encoder struct {
	b []byte
}

func (e *encoder) reset() { e.b = e.b[:0] }

// open starts a constructed element and returns its mark for close.
func (e *encoder) open(id byte) int {
	e.b = append(e.b, id, 0)
	return len(e.b)
}

func (e *encoder) close(mark int) {
	n := len(e.b) - mark
	if n < 0x80 {
		e.b[mark-1] = byte(n)
		return
	}
	k := 1
	for v := n >> 8; v > 0; v >>= 8 {
		k++
	}
	e.b = append(e.b, make([]byte, k)...)
	copy(e.b[mark+k:], e.b[mark:mark+n])
	e.b[mark-1] = 0x80 | byte(k)
	for i := range k {
		e.b[mark+i] = byte(n >> (8 * (k - 1 - i)))
	}
}

func (e *encoder) appendLength(n int) {
	switch {
	case n < 0x80:
		e.b = append(e.b, byte(n))
	case n < 1<<8:
		e.b = append(e.b, 0x81, byte(n))
	case n < 1<<16:
		e.b = append(e.b, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		e.b = append(e.b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		e.b = append(e.b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func (e *encoder) str(id byte, s string) {
	e.b = append(e.b, id)
	e.appendLength(len(s))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(id byte, s []byte) {
	e.b = append(e.b, id)
	e.appendLength(len(s))
	e.b = append(e.b, s...)
}

func (e *encoder) int(id byte, v int64) {
	var tmp [8]byte
	n := 1
	for n < 8 && (v >= 0 && v >= 1<<(8*n-1) || v < 0 && v < -(1<<(8*n-1))) {
		n++
	}
	for i := range n {
		tmp[i] = byte(v >> (8 * (n - 1 - i)))
	}
	e.b = append(e.b, id, byte(n))
	e.b = append(e.b, tmp[:n]...)
}
