package iam

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"
)

// Position is a line and column in a policy document (the simulator's Position shape).
type Position struct {
	Line   int `xml:"Line"`
	Column int `xml:"Column"`
}

// statementSpan is where one statement of a policy document starts and ends.
type statementSpan struct {
	Start, End Position
}

// statementSpans locates the statements of a policy document, in document order (the
// order policy.Parse numbers them): the object of the top-level Statement element, or
// each object of its array. Positions are IAM's: the line (from 1) of the statement's
// opening and closing brace, and the column just after that brace (columns from 1, so
// the brace's own column plus one), counting UTF-16 code units as IAM's parser does:
// the statement of {"Version":"2012-10-17","Statement":{...}} starts at line 1,
// column 38. A document that does not decode gives nil.
func statementSpans(doc string) []statementSpan {
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	var spans []statementSpan
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil
		}
		if key != "Statement" {
			if skipValue(dec) != nil {
				return nil
			}
			continue
		}
		// A later Statement key replaces an earlier one, as in policy.Parse.
		spans = spans[:0]
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch tok {
		case json.Delim('{'):
			end, err := skipRest(dec)
			if err != nil {
				return nil
			}
			spans = append(spans, span(doc, braceBefore(doc, start), int(end-1)))
		case json.Delim('['):
			for dec.More() {
				at := dec.InputOffset()
				tok, err := dec.Token()
				if err != nil {
					return nil
				}
				if tok != json.Delim('{') {
					if d, ok := tok.(json.Delim); ok && d == '[' {
						if _, err := skipRest(dec); err != nil {
							return nil
						}
					}
					continue
				}
				end, err := skipRest(dec)
				if err != nil {
					return nil
				}
				spans = append(spans, span(doc, braceBefore(doc, at), int(end-1)))
			}
			if _, err := dec.Token(); err != nil {
				return nil
			}
		}
	}
	return spans
}

// braceBefore is the offset of the first '{' at or after off.
func braceBefore(doc string, off int64) int {
	i := int(off)
	for i < len(doc) && doc[i] != '{' {
		i++
	}
	return i
}

// skipValue skips the next value of dec.
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		_, err = skipRest(dec)
	}
	return err
}

// skipRest reads up to the end of the object or array whose opening delimiter was just
// read, and returns the offset just past its closing delimiter.
func skipRest(dec *json.Decoder) (int64, error) {
	depth := 1
	for depth > 0 {
		tok, err := dec.Token()
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
	}
	return dec.InputOffset(), nil
}

func span(doc string, open, close int) statementSpan {
	return statementSpan{Start: position(doc, open), End: position(doc, close)}
}

// position is IAM's Position of the character at byte offset off: its line, and its
// column plus one.
func position(doc string, off int) Position {
	line, col := 1, 0
	for i := 0; i < off && i < len(doc); {
		c := doc[i]
		switch {
		case c == '\n':
			line, col = line+1, 0
			i++
		case c == '\r':
			if i+1 < len(doc) && doc[i+1] == '\n' {
				i++
				continue
			}
			line, col = line+1, 0
			i++
		case c < utf8.RuneSelf:
			col++
			i++
		default:
			r, n := utf8.DecodeRuneInString(doc[i:])
			col++
			if r > 0xFFFF {
				col++ // a surrogate pair
			}
			i += n
		}
	}
	return Position{Line: line, Column: col + 2}
}
