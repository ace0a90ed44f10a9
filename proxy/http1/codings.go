package http1

import "bytes"

// Coding is a transfer coding applied to a request body before the final
// "chunked" (RFC 9112 §7). Real clients virtually never send one; the edge
// undoes gzip and deflate and refuses compress with 501.
type Coding uint8

// Transfer codings a request may list before "chunked".
const (
	CodingGzip     Coding = iota + 1 // gzip, x-gzip
	CodingDeflate                    // deflate (zlib format)
	CodingCompress                   // compress, x-compress (LZW)
)

// MaxCodings bounds how many codings may precede "chunked".
const MaxCodings = 4

// addTransferCodings folds one Transfer-Encoding field value into r. Several
// fields form one list. "chunked" must come exactly once and last; other
// known codings may precede it, with parameters; unknown codings are refused
// (a back end that does not know one either would frame the body otherwise).
func (r *Request) addTransferCodings(v []byte) error {
	if len(trimOWS(v)) == 0 {
		return errBadTE
	}
	for len(v) > 0 {
		var elem []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			elem, v = v[:i], v[i+1:]
		} else {
			elem, v = v, nil
		}
		elem = trimOWS(elem)
		if len(elem) == 0 {
			continue // empty list elements are allowed (RFC 9110 §5.6.1)
		}
		name := elem
		if i := bytes.IndexAny(elem, "; \t"); i >= 0 {
			name = elem[:i]
			if !validParams(elem[i:]) {
				return errBadTE
			}
		}
		if r.Chunked {
			return errBadTE // anything after chunked, chunked twice included
		}
		switch {
		case EqualFold(name, "chunked"):
			r.Chunked = true
		case EqualFold(name, "identity"):
			// a no-op coding
		case EqualFold(name, "gzip"), EqualFold(name, "x-gzip"):
			if err := r.pushCoding(CodingGzip); err != nil {
				return err
			}
		case EqualFold(name, "deflate"):
			if err := r.pushCoding(CodingDeflate); err != nil {
				return err
			}
		case EqualFold(name, "compress"), EqualFold(name, "x-compress"):
			if err := r.pushCoding(CodingCompress); err != nil {
				return err
			}
		default:
			return errBadTE
		}
	}
	return nil
}

func (r *Request) pushCoding(c Coding) error {
	if r.NumCodings == MaxCodings {
		return errBadTE
	}
	r.Codings[r.NumCodings] = c
	r.NumCodings++
	return nil
}

// validParams checks transfer parameters loosely: tokens, '=', ';',
// whitespace and quoted strings, never controls or other separators.
func validParams(p []byte) bool {
	for _, c := range p {
		if !isTchar[c] && c != ';' && c != '=' && c != ' ' && c != '\t' && c != '"' {
			return false
		}
	}
	return true
}
