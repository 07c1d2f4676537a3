package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

// rawJSON is a server's data, printed as received.
type rawJSON = json.RawMessage

// orderedMap is a JSON object whose keys keep their order.
type orderedMap []kv

type kv struct {
	Key   string
	Value any
}

func (m orderedMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.Key)
		if err != nil {
			return nil, err
		}
		v, err := marshalNoEscape(e.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	if raw, ok := v.(rawJSON); ok {
		return raw, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// writeJSONResult prints cloudhsm-cli's envelope: {"error_code": N, "data": ...}.
func writeJSONResult(w io.Writer, code int, data any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		ErrorCode int `json:"error_code"`
		Data      any `json:"data"`
	}{code, data})
}

// print shows a command's data in the selected format.
func (r *hsmRun) print(w io.Writer, data any) error {
	b, err := marshalNoEscape(data)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("null")
	}
	if r.output == "json" {
		writeJSONResult(w, 0, rawJSON(b))
		return nil
	}
	return renderTable(w, b)
}

// renderTable prints lists (users, keys, tokens, key pairs) as tables and anything else as
// "key: value" lines.
func renderTable(w io.Writer, b []byte) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) == nil {
		_, hasUsers := obj["users"]
		_, hasKeys := obj["matched_keys"]
		_, hasTokens := obj["tokens"]
		_, hasPub := obj["public_key"]
		_, hasPriv := obj["private_key"]
		switch {
		case hasUsers && len(obj) == 1:
			var ul hsmapi.UserList
			if json.Unmarshal(b, &ul) == nil {
				return userTable(w, ul.Users)
			}
		case hasKeys:
			var kl hsm.KeyList
			if json.Unmarshal(b, &kl) == nil {
				return keyTable(w, kl.MatchedKeys, &kl)
			}
		case hasTokens && len(obj) == 1:
			var tl hsmapi.TokenList
			if json.Unmarshal(b, &tl) == nil {
				return tokenTable(w, tl.Tokens)
			}
		case hasPub && hasPriv && len(obj) == 2:
			var kp hsm.KeyPair
			if json.Unmarshal(b, &kp) == nil {
				return keyTable(w, []hsm.KeyInfo{kp.PublicKey, kp.PrivateKey}, nil)
			}
		}
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		_, err := fmt.Fprintln(w, s)
		return err
	}
	root, err := parseOrdered(b)
	if err != nil {
		return err
	}
	var lines []kv
	flatten(root, "", &lines)
	for _, l := range lines {
		if l.Key == "" {
			fmt.Fprintln(w, l.Value)
			continue
		}
		fmt.Fprintf(w, "%s: %v\n", l.Key, l.Value)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func userTable(w io.Writer, users []hsm.UserInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tROLE\tLOCKED\tMFA\tQUORUM\tACTIVATED\tFAILED-LOGINS\tCOVERAGE")
	strategies := func(list []hsm.MFAInfo) string {
		var s []string
		for _, m := range list {
			s = append(s, m.Strategy)
		}
		return dash(strings.Join(s, ","))
	}
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%d\t%s\n", u.Username, u.Role, u.Locked,
			strategies(u.MFA), strategies(u.Quorum), u.Activated, u.FailedLogins, dash(u.ClusterCoverage))
	}
	return tw.Flush()
}

func keyTable(w io.Writer, keys []hsm.KeyInfo, page *hsm.KeyList) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY-REFERENCE\tCLASS\tKEY-TYPE\tSIZE\tLABEL\tID\tOWNER\tSHARED-WITH\tCOVERAGE\tCHECK-VALUE")
	for _, k := range keys {
		var a hsm.Attributes
		if k.Attributes != nil {
			a = *k.Attributes
		}
		size := "-"
		switch {
		case a.KeyLengthBytes > 0:
			size = strconv.Itoa(a.KeyLengthBytes*8) + " bits"
		case a.ModulusSizeBits > 0:
			size = strconv.Itoa(a.ModulusSizeBits) + " bits"
		case a.Curve != "":
			size = a.Curve
		}
		var owners, shared []string
		for _, u := range k.KeyInfo.KeyOwners {
			owners = append(owners, u.Username)
		}
		for _, u := range k.KeyInfo.SharedUsers {
			shared = append(shared, u.Username)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KeyReference, dash(a.Class), dash(a.KeyType), size,
			dash(a.Label), dash(a.ID), dash(strings.Join(owners, ",")), dash(strings.Join(shared, ",")),
			dash(k.KeyInfo.ClusterCoverage), dash(a.CheckValue))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page != nil {
		fmt.Fprintf(w, "%d of %d keys\n", page.ReturnedKeyCount, page.TotalKeyCount)
		if page.NextToken != "" {
			fmt.Fprintf(w, "more keys: --starting-token %s\n", page.NextToken)
		}
	}
	return nil
}

func tokenTable(w io.Writer, toks []hsm.TokenInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN-ID\tSERVICE\tKEY-REFERENCE\tUSERNAME\tEXPIRES")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.TokenID, t.Service, dash(t.KeyRef), t.Creator, t.Expires.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return tw.Flush()
}

// ---- "key: value" lines ----

// jnode is a JSON value that keeps the order of object keys.
type jnode struct {
	obj    bool
	arr    bool
	keys   []string
	kids   []*jnode
	scalar string
}

func parseOrdered(b []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := parseNode(dec)
	if err != nil {
		return nil, fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	return n, nil
}

func parseNode(dec *json.Decoder) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jnode{obj: t == '{', arr: t == '['}
		for dec.More() {
			if n.obj {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				n.keys = append(n.keys, k)
			}
			kid, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, kid)
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return n, nil
	case nil:
		return &jnode{scalar: "-"}, nil
	case string:
		return &jnode{scalar: t}, nil
	default:
		return &jnode{scalar: fmt.Sprint(t)}, nil
	}
}

func flatten(n *jnode, prefix string, out *[]kv) {
	switch {
	case n.obj:
		if len(n.kids) == 0 {
			*out = append(*out, kv{prefix, "-"})
		}
		for i, k := range n.keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(n.kids[i], p, out)
		}
	case n.arr:
		scalars := true
		var vals []string
		for _, k := range n.kids {
			if k.obj || k.arr {
				scalars = false
				break
			}
			vals = append(vals, k.scalar)
		}
		if scalars {
			*out = append(*out, kv{prefix, dash(strings.Join(vals, ", "))})
			return
		}
		for i, k := range n.kids {
			flatten(k, fmt.Sprintf("%s[%d]", prefix, i), out)
		}
	default:
		*out = append(*out, kv{prefix, n.scalar})
	}
}
