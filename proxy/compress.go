package proxy

import (
	"bytes"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/static"
)

// codec is a content coding frontdoor can produce.
type codec uint8

const (
	codecNone codec = iota
	codecGzip
	codecZstd
)

// compressor encodes one response body into its spool, framing the output
// as chunks for HTTP/1.1 clients. It is reused from a per-worker pool;
// both encoders run synchronously in the worker (zstd with concurrency 1).
type compressor struct {
	kind    codec
	gz      *gzip.Writer
	zs      *zstd.Encoder
	px      *proxyExchange
	chunked bool
	hexBuf  []byte
}

// Write receives compressed bytes from the encoder.
func (k *compressor) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	out := &k.px.out
	if k.chunked {
		k.hexBuf = strconv.AppendInt(k.hexBuf[:0], int64(len(p)), 16)
		k.hexBuf = append(k.hexBuf, "\r\n"...)
		out.AppendAlways(k.hexBuf)
	}
	out.AppendAlways(p)
	if k.chunked {
		out.AppendAlways([]byte("\r\n"))
	}
	return len(p), nil
}

// write compresses body bytes.
func (k *compressor) write(p []byte) {
	if k.kind == codecGzip {
		k.gz.Write(p)
	} else {
		k.zs.Write(p)
	}
}

// finish flushes the encoder and ends the chunked body.
func (k *compressor) finish() {
	if k.kind == codecGzip {
		k.gz.Close()
	} else {
		k.zs.Close()
	}
	if k.chunked {
		k.px.out.AppendAlways([]byte("0\r\n\r\n"))
	}
}

func (w *worker) getCompressor(kind codec, px *proxyExchange, chunked bool) *compressor {
	var k *compressor
	for i := len(w.compFree) - 1; i >= 0; i-- {
		if w.compFree[i].kind == kind {
			k = w.compFree[i]
			w.compFree = append(w.compFree[:i], w.compFree[i+1:]...)
			break
		}
	}
	if k == nil {
		k = &compressor{kind: kind}
		switch kind {
		case codecGzip:
			k.gz, _ = gzip.NewWriterLevel(k, w.proxyCfg.Compress.GzipLevel)
		case codecZstd:
			k.zs, _ = zstd.NewWriter(k, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20),
				zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithLowerEncoderMem(true))
		}
	} else if kind == codecGzip {
		k.gz.Reset(k)
	} else {
		k.zs.Reset(k)
	}
	k.px, k.chunked = px, chunked
	return k
}

func (w *worker) putCompressor(k *compressor) {
	k.px = nil
	if len(w.compFree) < 8 {
		w.compFree = append(w.compFree, k)
	}
}

// chooseCompression decides whether a proxied response is compressed, and
// how: the client accepts the coding, the type is text-like, the body is
// big enough, the application did not encode it already or forbid
// transformation (Cache-Control: no-transform), and it is not a stream.
func (w *worker) chooseCompression(r *http1.Request, resp *http1.Response, streaming bool) codec {
	cc := &w.proxyCfg.Compress
	if !cc.Enabled || streaming || string(r.Method) == "HEAD" {
		return codecNone
	}
	if resp.Status != 200 && resp.Status != 201 && resp.Status != 202 && resp.Status != 203 {
		return codecNone
	}
	if resp.Framing != http1.FramingLength && resp.Framing != http1.FramingChunked {
		return codecNone
	}
	if resp.Framing == http1.FramingLength && resp.ContentLength < cc.MinSize {
		return codecNone
	}
	if resp.HeaderNamed("content-encoding") != nil {
		return codecNone
	}
	if c := resp.HeaderNamed("cache-control"); c != nil && bytes.Contains(bytes.ToLower(c), []byte("no-transform")) {
		return codecNone
	}
	ct := resp.Header(http1.HeaderContentType)
	if ct == nil || !static.Compressible(string(bytes.TrimSpace(ct))) {
		return codecNone
	}
	ae := r.Header(http1.HeaderAcceptEncoding)
	switch {
	case ae == nil:
		return codecNone
	case static.AcceptsEncoding(ae, "zstd"):
		return codecZstd
	case static.AcceptsEncoding(ae, "gzip"):
		return codecGzip
	}
	return codecNone
}
