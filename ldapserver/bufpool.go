package ldapserver

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// The connections' read and write buffers come from pools: clients that
// connect, bind, search and unbind for every lookup would otherwise
// allocate and zero them for each connection. A connection keeps its read
// buffer (4 KiB: requests are small; a larger message is read past it)
// and takes a write buffer (64 KiB, for a batch of entries) only from its
// first write to the flush of the response, so a thousand idle clients
// cost no write buffers.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}
)

func getReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func getWriter(w io.Writer) *bufio.Writer {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}

// releaseBuffers returns the connection's buffers to the pools. It runs in
// the reader goroutine after the reading loop ended and every request
// finished; later writes fail with the connection's write error.
func (c *conn) releaseBuffers() {
	c.wmu.Lock()
	if c.werr == nil {
		c.werr = net.ErrClosed
	}
	bw := c.bw
	c.bw = nil
	c.wmu.Unlock()
	if bw != nil {
		putWriter(bw)
	}
	br := c.br
	c.br = nil
	br.Reset(nil)
	readerPool.Put(br)
}
