package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// rawPager runs full paged reads without decoding the entries: go-ldap
// decodes ~25k entries a second on one core, so a full read of 100k users
// with it measures the client, not the server. Requests are built with
// go-ldap's filter compiler and paging control; responses are only framed
// and counted, except each page's SearchResultDone, which is decoded for
// its result code and cookie.
type rawPager struct {
	conn  net.Conn
	br    *bufio.Reader
	msgID int64
}

func dialRaw(o *options) (*rawPager, error) {
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "ldap" {
		return nil, fmt.Errorf("-mode paged-raw needs an ldap:// URL, not %q", o.url)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	p := &rawPager{conn: c, br: bufio.NewReaderSize(c, 256<<10)}
	if o.bindDN != "" {
		req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
		req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, o.bindDN, "User Name"))
		req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, o.password, "Password"))
		if err := p.send(req, nil); err != nil {
			c.Close()
			return nil, err
		}
		done, err := p.readDone()
		if err == nil {
			err = resultError(done)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bind: %w", err)
		}
	}
	return p, nil
}

func (p *rawPager) send(op *ber.Packet, controls []ldap.Control) error {
	p.msgID++
	m := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, p.msgID, "MessageID"))
	m.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, c := range controls {
			cs.AppendChild(c.Encode())
		}
		m.AppendChild(cs)
	}
	_, err := p.conn.Write(m.Bytes())
	return err
}

// readDone reads messages up to the next final response, counting
// SearchResultEntries, and returns that response decoded.
func (p *rawPager) readDone() (*ber.Packet, error) {
	_, pkt, err := p.readUntilDone()
	return pkt, err
}

func (p *rawPager) readUntilDone() (entries int, done *ber.Packet, err error) {
	for {
		frame, op, err := p.frame()
		if err != nil {
			return entries, nil, err
		}
		switch op {
		case ldap.ApplicationSearchResultEntry, ldap.ApplicationSearchResultReference:
			entries++
			continue
		}
		pkt, err := ber.DecodePacketErr(frame)
		return entries, pkt, err
	}
}

// frame reads one LDAPMessage and returns it with its protocolOp's tag.
func (p *rawPager) frame() ([]byte, ber.Tag, error) {
	hdr, n, err := readHeader(p.br)
	if err != nil {
		return nil, 0, err
	}
	buf := make([]byte, len(hdr)+n)
	copy(buf, hdr)
	if _, err := io.ReadFull(p.br, buf[len(hdr):]); err != nil {
		return nil, 0, err
	}
	// The content: messageID (INTEGER), then the protocolOp.
	body := buf[len(hdr):]
	if len(body) < 2 || body[0] != 0x02 || int(body[1])+2 >= len(body) {
		return nil, 0, errors.New("malformed LDAPMessage")
	}
	return buf, ber.Tag(body[2+int(body[1])] & 0x1f), nil
}

// readHeader reads a BER identifier and definite length.
func readHeader(r *bufio.Reader) ([]byte, int, error) {
	hdr := make([]byte, 0, 6)
	for range 2 {
		b, err := r.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		hdr = append(hdr, b)
	}
	l := int(hdr[1])
	if l < 0x80 {
		return hdr, l, nil
	}
	k := l & 0x7f
	if k == 0 || k > 4 {
		return nil, 0, errors.New("unsupported BER length")
	}
	n := 0
	for range k {
		b, err := r.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		hdr = append(hdr, b)
		n = n<<8 | int(b)
	}
	return hdr, n, nil
}

func resultError(done *ber.Packet) error {
	if len(done.Children) < 2 || len(done.Children[1].Children) < 3 {
		return errors.New("malformed result")
	}
	r := done.Children[1].Children
	code, _ := r[0].Value.(int64)
	if code != 0 {
		return fmt.Errorf("result %d (%s): %v", code, ldap.LDAPResultCodeMap[uint16(code)], r[2].Value)
	}
	return nil
}

// read runs one full paged read and returns the number of entries.
func (p *rawPager) read(o *options, filter string) (int, error) {
	f, err := ldap.CompileFilter(filter)
	if err != nil {
		return 0, err
	}
	var cookie []byte
	total := 0
	for {
		req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "Search Request")
		req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, o.base, "Base DN"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.ScopeWholeSubtree), "Scope"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.NeverDerefAliases), "Deref Aliases"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "Size Limit"))
		req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "Time Limit"))
		req.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "Types Only"))
		req.AppendChild(f)
		req.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes"))
		paging := ldap.NewControlPaging(uint32(o.page))
		paging.SetCookie(cookie)
		if err := p.send(req, []ldap.Control{paging}); err != nil {
			return total, err
		}
		n, done, err := p.readUntilDone()
		total += n
		if err != nil {
			return total, err
		}
		if err := resultError(done); err != nil {
			return total, err
		}
		cookie = nil
		if len(done.Children) > 2 {
			for _, c := range done.Children[2].Children {
				ctrl, err := ldap.DecodeControl(c)
				if err != nil {
					return total, err
				}
				if pc, ok := ctrl.(*ldap.ControlPaging); ok {
					cookie = pc.Cookie
				}
			}
		}
		if len(cookie) == 0 {
			return total, nil
		}
	}
}

func (p *rawPager) Close() error { return p.conn.Close() }
