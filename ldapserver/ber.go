package ldapserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/ldapgate/ldapgate/internal/ber"
)

// The wire format (RFC 4511 §5.1): every LDAPMessage is one BER SEQUENCE
// with definite lengths. The connection layer reads the outer header itself
// (so the size bound is the server's, not asn1-ber's process-wide
// MaxPacketLengthBytes), then decodes the message with the project's own
// zero-copy TLV reader (internal/ber; search filters too: see
// parseFilterBER). Responses are encoded once, straight into a byte slice,
// by ber.Encoder.

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
	if tag != ber.TagSequence {
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

// message is a decoded LDAPMessage.
type message struct {
	id       int32
	op       byte    // application tag number of protocolOp
	body     ber.TLV // protocolOp
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
	top, rest, err := ber.Next(b)
	if err != nil {
		return err
	}
	if top.ID != ber.TagSequence || len(rest) != 0 {
		return fmt.Errorf("%w: not one SEQUENCE", ber.ErrMalformed)
	}
	it := top.Children()
	idt := it.Expect(ber.TagInteger, "messageID")
	if it.Err != nil {
		return it.Err
	}
	id, err := ber.ParseInt(idt.Content)
	if err != nil || id < 0 || id > 1<<31-1 {
		return fmt.Errorf("%w: bad messageID", ber.ErrMalformed)
	}
	m.id = int32(id)
	m.body = it.Next()
	if it.Err != nil {
		return it.Err
	}
	if m.body.Class() != ber.ClassApplication {
		return fmt.Errorf("%w: protocolOp is not an application tag", ber.ErrMalformed)
	}
	m.op = m.body.Tag()
	if it.More() {
		ct := it.Next()
		if it.Err != nil {
			return it.Err
		}
		if ct.ID != ber.ClassContext|ber.Constructed|0 {
			return fmt.Errorf("%w: unexpected element after protocolOp", ber.ErrMalformed)
		}
		m.controls, err = decodeControls(ct)
		if err != nil {
			return err
		}
	}
	if it.More() {
		return fmt.Errorf("%w: trailing elements", ber.ErrMalformed)
	}
	return it.Err
}

const maxControls = 32

func decodeControls(t ber.TLV) ([]control, error) {
	var out []control
	it := t.Children()
	for it.More() {
		c := it.Expect(ber.TagSequence, "control")
		if it.Err != nil {
			return nil, it.Err
		}
		if len(out) == maxControls {
			return nil, fmt.Errorf("%w: more than %d controls", ber.ErrMalformed, maxControls)
		}
		ci := c.Children()
		var ctl control
		ctl.oid = ci.Expect(ber.TagOctetString, "controlType").Str()
		for ci.More() {
			e := ci.Next()
			switch {
			case e.ID == ber.TagBoolean && !ctl.hasValue:
				b, err := ber.ParseBool(e)
				if err != nil {
					return nil, err
				}
				ctl.critical = b
			case e.ID == ber.TagOctetString && !ctl.hasValue:
				ctl.value, ctl.hasValue = e.Content, true
			default:
				return nil, fmt.Errorf("%w: bad control", ber.ErrMalformed)
			}
		}
		if ci.Err != nil {
			return nil, ci.Err
		}
		out = append(out, ctl)
	}
	return out, it.Err
}
