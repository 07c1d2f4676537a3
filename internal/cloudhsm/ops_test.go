package cloudhsm

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// modelOperations are the 18 operations of botocore's cloudhsmv2 2017-04-28 model.
var modelOperations = []string{"CopyBackupToRegion", "CreateCluster", "CreateHsm", "DeleteBackup", "DeleteCluster",
	"DeleteHsm", "DeleteResourcePolicy", "DescribeBackups", "DescribeClusters", "GetResourcePolicy", "InitializeCluster",
	"ListTags", "ModifyBackupAttributes", "ModifyCluster", "PutResourcePolicy", "RestoreBackup", "TagResource", "UntagResource"}

func opNames() []string {
	var names []string
	for n := range Operations() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// botocoreModels finds cloudhsmv2 service models on this machine: the installed botocore's
// and the copies bundled with the AWS CLI and the Google Cloud SDK (older ones may lack
// operations).
func botocoreModels(t *testing.T) []string {
	var dirs []string
	if out, err := exec.Command("python3", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	dirs = append(dirs, "/usr/lib/python3/dist-packages/botocore", "/usr/lib/python3/dist-packages/awscli/botocore",
		"/usr/lib/google-cloud-sdk/lib/third_party/botocore")
	var files []string
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "data", "cloudhsmv2", "*", "service-2.json*"))
		files = append(files, m...)
	}
	slices.Sort(files)
	return slices.Compact(files)
}

func loadModelOps(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	var m struct {
		Metadata   struct{ TargetPrefix, SigningName, JSONVersion string }
		Operations map[string]json.RawMessage
	}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m.Metadata.TargetPrefix != "BaldrApiService" || m.Metadata.SigningName != "cloudhsm" {
		t.Fatalf("%s: unexpected metadata %+v", path, m.Metadata)
	}
	var ops []string
	for n := range m.Operations {
		ops = append(ops, n)
	}
	sort.Strings(ops)
	return ops
}

func TestOperationsMatchModel(t *testing.T) {
	if got := opNames(); !slices.Equal(got, modelOperations) {
		t.Fatalf("Operations() = %v\nmodel        %v", got, modelOperations)
	}
	models := botocoreModels(t)
	if len(models) == 0 {
		t.Skip("no botocore cloudhsmv2 model on this machine")
	}
	var newest []string
	for _, path := range models {
		ops := loadModelOps(t, path)
		t.Logf("%s: %d operations", path, len(ops))
		for _, n := range ops {
			if Operations()[n] == nil {
				t.Errorf("%s: operation %s is not served", path, n)
			}
		}
		if len(ops) > len(newest) {
			newest = ops
		}
	}
	if len(newest) == len(modelOperations) && !slices.Equal(newest, opNames()) {
		t.Errorf("newest model's operations %v differ from Operations() %v", newest, opNames())
	}
}

func TestOperationDecoding(t *testing.T) {
	e := newTestEnv(t)
	ops := Operations()
	call := func(name, body string) (any, error) { return ops[name](e.s, e.ctx, e.c, []byte(body)) }
	for _, tc := range []struct{ op, body, substr string }{
		{"DescribeClusters", `{`, "Malformed JSON"},
		{"DescribeClusters", `{"MaxResults":"10"}`, "MaxResults"},
		{"DescribeClusters", `{} {}`, ""},
		{"CreateCluster", `{"SubnetIds":"subnet-0a608d19e6c29c7a9"}`, "SubnetIds"},
		{"TagResource", `{"ResourceId":"cluster-aaaaaaaaaaa","TagList":[{"Key":1}]}`, "Key"},
		{"ModifyBackupAttributes", `{"BackupId":"backup-aaaaaaaaaaa","NeverExpires":"yes"}`, "NeverExpires"},
		{"DescribeBackups", `[]`, ""},
	} {
		_, err := call(tc.op, tc.body)
		wantErr(t, err, CodeInvalidRequest, tc.substr)
	}
	// A well-formed call answers the model's shapes.
	out, err := call("CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["`+subnetA+`"],"TagList":[{"Key":"a","Value":"b"}],"Unknown":1}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	var created struct {
		Cluster map[string]any
	}
	json.Unmarshal(b, &created)
	for _, k := range []string{"ClusterId", "State", "HsmType", "CreateTimestamp", "SubnetMapping", "VpcId", "SecurityGroup", "BackupPolicy", "Hsms"} {
		if _, ok := created.Cluster[k]; !ok {
			t.Errorf("CreateCluster response lacks %s: %s", k, b)
		}
	}
	if _, ok := created.Cluster["CreateTimestamp"].(float64); !ok {
		t.Errorf("CreateTimestamp is not epoch seconds: %s", b)
	}
	out, err = call("ListTags", `{"ResourceId":"`+created.Cluster["ClusterId"].(string)+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(out); string(b) != `{"TagList":[{"Key":"a","Value":"b"}]}` {
		t.Fatalf("ListTags: %s", b)
	}
	out, err = call("DescribeBackups", ``)
	if b, _ := json.Marshal(out); err != nil || string(b) != `{"Backups":[]}` {
		t.Fatalf("DescribeBackups: %v %s", err, b)
	}
	out, err = call("TagResource", `{"ResourceId":"`+created.Cluster["ClusterId"].(string)+`","TagList":[{"Key":"c","Value":""}]}`)
	if b, _ := json.Marshal(out); err != nil || string(b) != `{}` {
		t.Fatalf("TagResource: %v %s", err, b)
	}
}

// directProposer applies commands to the parts at once, without raft: enough for fuzzing
// the operations' decoding and validation quickly.
type directProposer struct {
	parts map[string]state.Part
	index uint64
}

func (d *directProposer) Propose(ctx context.Context, typ string, version int, body any) (any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	d.index++
	part := d.parts[strings.SplitN(typ, ".", 2)[0]]
	return part.Apply(d.index, state.Command{Type: typ, Version: version, Time: time.Now().UTC(), Body: b})
}

func (d *directProposer) SnapshotData() ([]byte, uint64, error) {
	s := &state.Snapshot{Index: d.index, Parts: map[string][]byte{}}
	for name, p := range d.parts {
		b, err := p.Snapshot()
		if err != nil {
			return nil, 0, err
		}
		s.Parts[name] = b
	}
	b, err := state.EncodeSnapshot(s)
	return b, d.index, err
}

// FuzzOperations feeds random bodies to every operation of a fresh service holding one
// cluster: nothing may panic, and every error must be an *Error of the service.
func FuzzOperations(f *testing.F) {
	names := opNames()
	for i, n := range names {
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`{"ClusterId":"cluster-aaaaaaaaaaa","BackupId":"backup-aaaaaaaaaaa","ResourceId":"cluster-aaaaaaaaaaa","MaxResults":1,"NextToken":"x"}`))
		_ = n
	}
	f.Add(uint8(0), []byte(`{"DestinationRegion":"us-west-2","BackupId":"backup-aaaaaaaaaaa","TagList":[{"Key":"a","Value":"b"}]}`))
	f.Add(uint8(1), []byte(`{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a608d19e6c29c7a9"],"SourceBackupId":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa"}`))
	f.Add(uint8(8), []byte(`{"Filters":{"clusterIds":["x"],"states":null},"MaxResults":25}`))
	f.Add(uint8(7), []byte(`{"Filters":{"neverExpires":["true"]},"SortAscending":true,"Shared":false}`))
	f.Add(uint8(14), []byte(`{"ResourceArn":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa","Policy":"{}"}`))
	ops := Operations()
	c := Caller{Region: "us-east-1", Account: testAcct}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		h := hsm.New(hsm.Config{DomainKeyPath: filepath.Join(dir, "dk")})
		s := New(Config{HSM: h, NodeID: "n1", Zone: "us-east-1a", Subnets: map[string]string{subnetA: "us-east-1a"}})
		p := &directProposer{parts: map[string]state.Part{"hsm": h, "cloudhsm": s}}
		h.Attach(p)
		s.Attach(p)
		if _, err := s.CreateCluster(context.Background(), c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}}); err != nil {
			t.Fatal(err)
		}
		name := names[int(which)%len(names)]
		out, err := ops[name](s, context.Background(), c, body)
		if err != nil {
			if AsError(err).Code == CodeInternal {
				t.Fatalf("%s %q: internal error %v", name, body, err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("%s: response does not encode: %v", name, err)
		}
	})
}
