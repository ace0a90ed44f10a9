package proxy

import (
	"bytes"
	"strconv"

	"frontdoor/proxy/http1"
)

// statusText holds the reason phrases frontdoor uses.
var statusText = map[int]string{
	100: "Continue",
	101: "Switching Protocols",
	200: "OK",
	204: "No Content",
	206: "Partial Content",
	301: "Moved Permanently",
	302: "Found",
	304: "Not Modified",
	307: "Temporary Redirect",
	308: "Permanent Redirect",
	400: "Bad Request",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	408: "Request Timeout",
	411: "Length Required",
	413: "Content Too Large",
	414: "URI Too Long",
	416: "Range Not Satisfiable",
	417: "Expectation Failed",
	421: "Misdirected Request",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
	507: "Insufficient Storage",
}

// errorMessage is the sentence shown on each error page.
var errorMessage = map[int]string{
	400: "The request could not be understood.",
	403: "You do not have access to this resource.",
	404: "The requested resource could not be found.",
	405: "This method is not allowed here.",
	408: "The request took too long to arrive.",
	413: "The request body is too large.",
	414: "The request address is too long.",
	416: "The requested range is not available.",
	417: "The expectation cannot be met.",
	421: "This server does not serve this host name.",
	429: "Too many requests. Please slow down.",
	431: "The request headers are too large.",
	500: "Something went wrong on our side.",
	501: "This request is not supported.",
	502: "The application did not answer properly.",
	503: "The site is starting or briefly unavailable. Please retry in a moment.",
	504: "The application took too long to answer.",
	505: "This HTTP version is not supported.",
	507: "The server is out of storage space for this request.",
}

// responseTexts are precomputed per status code at engine start and read
// by every worker.
type responseTexts struct {
	statusLine map[int][]byte // "HTTP/1.1 404 Not Found\r\n"
	errorPage  map[int][]byte // branded HTML body
	// unconfigured is the page served while no site is configured.
	unconfigured []byte
	// overLimit is the whole response to a connection over its address's
	// connection cap.
	overLimit []byte
}

func newResponseTexts() *responseTexts {
	t := &responseTexts{statusLine: map[int][]byte{}, errorPage: map[int][]byte{}}
	for code, text := range statusText {
		t.statusLine[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
	}
	for code, msg := range errorMessage {
		t.errorPage[code] = brandedPage(strconv.Itoa(code)+" "+statusText[code], msg)
	}
	page := brandedPage("503 Service Unavailable", "Too many connections from your address. Please retry in a moment.")
	t.overLimit = []byte("HTTP/1.1 503 Service Unavailable\r\nServer: frontdoor\r\nContent-Type: text/html; charset=utf-8\r\n" +
		"Retry-After: 5\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(page)) + "\r\n\r\n" + string(page))
	t.unconfigured = brandedPage("frontdoor is running",
		"No site is configured yet. On the server, run <code>frontdoor init /path/to/your/django/project</code>, "+
			"then <code>systemctl restart frontdoor</code> (a restart, not a reload: init gives the service "+
			"write access to the project, which only a restart applies).")
	return t
}

func brandedPage(title, msg string) []byte {
	return []byte(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width,initial-scale=1"><title>` + title + `</title>` +
		`<style>body{font:16px/1.5 system-ui,sans-serif;margin:15vh auto;max-width:34em;padding:0 1em;color:#222}` +
		`h1{font-size:1.6em;margin:0 0 .3em}small{color:#888}</style></head><body><h1>` + title + `</h1><p>` + msg +
		`</p><hr><small>frontdoor</small></body></html>` + "\n")
}

func appendContentLength(b []byte, n int64) []byte {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "\r\n"...)
}

// respondError answers with a small error page. When the request has a
// body the connection is closed afterwards (after lingering), because the
// body was not read.
func (ex *exchange) respondError(status int) {
	ex.skipBody()
	ex.writeError(status)
}

// writeError queues a complete error response.
func (ex *exchange) writeError(status int) {
	ex.writeErrorWith(status, "")
}

// writeErrorWith queues an error response with extra header lines (each
// ending in CRLF).
func (ex *exchange) writeErrorWith(status int, extra string) {
	ex.writePage(status, extra, ex.w.e.texts.errorPage[status])
}

// writePage queues a response with an HTML body that must not be cached.
func (ex *exchange) writePage(status int, extra string, body []byte) {
	b := ex.head(status)
	b = append(b, "Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"...)
	b = append(b, extra...)
	b = appendContentLength(b, int64(len(body)))
	if ex.req != nil && string(ex.req.Method) == "HEAD" {
		body = nil
	}
	ex.send(b, body)
}

// writeJSONError queues an error as JSON, for API clients.
func (ex *exchange) writeJSONError(status int, extra string) {
	w := ex.w
	body := w.jsonScratch[:0]
	body = append(body, `{"error":`...)
	body = strconv.AppendQuote(body, statusText[status])
	body = append(body, `,"status":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, `,"message":`...)
	body = strconv.AppendQuote(body, errorMessage[status])
	if ex.px != nil && len(ex.px.requestID) > 0 {
		body = append(body, `,"request_id":"`...)
		body = append(body, ex.px.requestID...)
		body = append(body, '"')
	}
	body = append(body, "}\n"...)
	w.jsonScratch = body
	b := ex.head(status)
	b = append(b, "Content-Type: application/json\r\nCache-Control: no-store\r\n"...)
	b = append(b, extra...)
	b = appendContentLength(b, int64(len(body)))
	if string(ex.req.Method) == "HEAD" {
		body = nil
	}
	ex.send(b, body)
}

// wantsJSON reports a client that asks for JSON rather than HTML.
func wantsJSON(r *http1.Request) bool {
	a := r.Header(http1.HeaderAccept)
	return a != nil && bytes.Contains(a, []byte("application/json")) && !bytes.Contains(a, []byte("text/html"))
}
