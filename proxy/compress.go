package proxy

import (
	"bytes"
	"strconv"

	"github.com/andybalholm/brotli"
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
	codecBrotli
)

// contentEncoding names each codec in Content-Encoding.
var contentEncoding = [...]string{codecGzip: "gzip", codecZstd: "zstd", codecBrotli: "br"}

// brotliQuality is on-the-fly brotli's level: 4 is the fast end of the
// levels that beat gzip -6 on text (11 is for compressing once, at release).
const brotliQuality = 4

// compressor encodes one response body into its spool, framing the output
// as chunks for HTTP/1.1 clients. It is reused from a per-worker pool;
// both encoders run synchronously in the worker (zstd with concurrency 1).
type compressor struct {
	kind    codec
	gz      *gzip.Writer
	zs      *zstd.Encoder
	br      *brotli.Writer
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
	switch k.kind {
	case codecGzip:
		k.gz.Write(p)
	case codecBrotli:
		k.br.Write(p)
	default:
		k.zs.Write(p)
	}
}

// finish flushes the encoder and ends the chunked body.
func (k *compressor) finish() {
	switch k.kind {
	case codecGzip:
		k.gz.Close()
	case codecBrotli:
		k.br.Close()
	default:
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
		case codecBrotli:
			k.br = brotli.NewWriterOptions(k, brotli.WriterOptions{Quality: brotliQuality, LGWin: 20})
		}
	} else {
		switch kind {
		case codecGzip:
			k.gz.Reset(k)
		case codecBrotli:
			k.br.Reset(k)
		default:
			k.zs.Reset(k)
		}
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
// how: compression is on and not turned off for the route, the client
// accepts the coding and asked for no range, the type is text-like, the
// body is big enough, the application did not encode it already or forbid
// transformation (Cache-Control: no-transform), and it is not a stream.
func (w *worker) chooseCompression(r *http1.Request, resp *http1.Response, streaming bool, rt *route) codec {
	cc := &w.proxyCfg.Compress
	if cc.Off || streaming || string(r.Method) == "HEAD" || (rt != nil && rt.noCompress) {
		return codecNone
	}
	if r.Header(http1.HeaderRange) != nil {
		return codecNone // byte ranges of a body we would change
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
	case static.AcceptsEncoding(ae, "br"):
		return codecBrotli
	case static.AcceptsEncoding(ae, "gzip"):
		return codecGzip
	}
	return codecNone
}
