// Package cloudhsm is Coffer's AWS CloudHSM (v2) control plane: clusters, their HSMs,
// cluster initialization with the operator's CA, backups with retention, custodians and
// restore, cross-region copies, tags and backup resource policies, with CloudHSM's states,
// ids and exception names (botocore cloudhsmv2 2017-04-28, X-Amz-Target prefix
// "BaldrApiService", signing name "cloudhsm", JSON 1.1).
//
// # API
//
// Operations is the explicit dispatch table of all 18 operations of the model (checked
// against botocore's model by the tests). Each Op decodes its body with awsproto.Decode
// (malformed JSON or a wrongly typed field is a CloudHsmInvalidRequestException; unknown
// fields are ignored, as AWS does) and calls the typed method of the same name. Errors are
// *Error values carrying the exception name; AsError and MapError map the HSM core's errors
// in one place. Lists are paged with opaque NextTokens (a checked offset: a mangled token
// is refused) and MaxResults up to the model's maximum (25 clusters, 50 backups, 100 tags).
// Everything is scoped to the caller's region: another region sees nothing.
//
// # One node, one HSM
//
// A Coffer node runs one HSM core (internal/hsm). A cluster here is a record in the
// replicated state; its HSMs are bindings of Coffer nodes to the cluster:
//
//   - CreateCluster records the cluster. It answers CREATE_IN_PROGRESS, as AWS does; the
//     cluster becomes UNINITIALIZED at the next read (DescribeClusters), the next Tick, or
//     the next CreateHsm, whichever comes first. A node holds at most one live (not
//     DELETED) cluster.
//   - CreateHsm binds the local node (its Config.Zone must be the requested
//     AvailabilityZone and one of the cluster's subnet zones). The binding is recorded as
//     a Member {HsmId, NodeID, AZ} so that multi-node clusters can later bind idle nodes of
//     a zone. A node provides one HSM: a second CreateHsm on the same node is
//     CloudHsmResourceLimitExceededException. The HSM is ACTIVE at once.
//   - When the first HSM joins an UNINITIALIZED cluster, the cluster CSR is made
//     (pki.NewClusterCSR) and shown as Certificates.ClusterCsr. The CSR's private key is
//     not kept: nothing signs with it after the CSR itself, and InitializeCluster checks
//     the signed certificate against the CSR's public key (pki.VerifyInitialization).
//     There is no domain key yet to seal it under, so not persisting it at all is the
//     honest choice.
//   - InitializeCluster verifies the signed certificate and trust anchor, then
//     initializes the node's HSM core (hsm.Initialize with the default policy). The
//     cluster is INITIALIZED; the operator activates it with `coffer hsm cluster
//     activate`.
//
// A node knows the subnets given in Config.Subnets; its own zone always has one
// (DefaultSubnet(zone) when none is configured). EnsureDevCluster records a --dev node's
// cluster as already initialized, with one HSM bound to the node and certificates from a
// throwaway development CA (its trust anchor is in ClusterInfo, for KMS custom key
// stores; neither private key is kept).
//
// # Derived cluster state
//
// Once initialized, the reported cluster state follows the HSM core (the replicated "hsm"
// part): ACTIVE when the core is ACTIVE, INITIALIZED while it waits for activation, and
// DEGRADED, with a StateMessage, when the core is back to UNINITIALIZED (zeroized).
//
// # Backups
//
// CreateBackup (a Go method: CloudHSM takes backups itself) writes an archive
// (internal/backup) of the whole replicated state (Config.Snapshotter) to Config.Store,
// under the cluster's region, and records a READY backup carrying what a restore needs:
// the cluster's certificates, HSM type, mode and domain key lineage. The domain key goes
// into the archive only split with Shamir's scheme:
//
//   - with custodians (SetCustodians: 1 of 1, or M of N RSA-2048+ keys, N <= 16), each
//     share is RSA-OAEP-encrypted to one custodian inside the archive; CustodianShare
//     hands a custodian their wrapped share to decrypt locally (backup.DecryptShare);
//   - without custodians, one offline 1-of-1 share is written with mode 0600 to
//     ShareFile(id) = Config.ShareDir/<backup-id>.share: whoever holds that file and the
//     archive holds the cluster's keys.
//
// Tick takes a backup when an initialized cluster with an HSM on this node, whose HSM core
// is ACTIVE, has no READY backup younger than Config.BackupInterval (24 h); CreateHsm
// takes one after each new HSM of an initialized cluster, and DeleteHsm one before an HSM
// leaves it. No backup is taken of a DEGRADED cluster. Tick also applies retention
// (backup.Expired with the cluster's retention days: the newest backup of a cluster,
// NeverExpires backups and copies are kept), which puts expired backups PENDING_DELETION,
// and purges backups PENDING_DELETION for more than 7 days (backup.PurgeDue): those become
// DELETED and lose their archive and share. DeleteBackup puts a READY backup
// PENDING_DELETION too; RestoreBackup brings either back, as on AWS.
// Every time comes from Config.Now.
//
// CopyBackupToRegion copies the archive byte for byte under a new id in the destination
// region's namespace of the store (the archive's header keeps the source's id; the record
// notes it as ArchiveID), with the offline share file if there is one. DescribeBackups
// lists DELETED backups too, as AWS does. Resource policies (Put/Get/DeleteResourcePolicy)
// apply to backups only; they are validated as JSON documents and stored, but Coffer does
// not share backups across accounts (DescribeBackups with Shared true is refused).
//
// # Restore
//
// CreateCluster with SourceBackupId (an id or ARN of a READY backup of the caller's
// region) records a cluster with the backup's HSM type and mode and its lineage. CreateHsm
// binds the node but makes no CSR, and InitializeCluster refuses such a cluster. Instead
// RestoreCluster (a Go method, for the CLI) takes the custodians' decrypted shares, reads
// and authenticates the archive (backup.Archive.Open: too few, wrong or foreign shares and
// any altered bit are refused with CloudHsmInvalidRequestException, and nothing changes),
// and hands the snapshot's "hsm" part and the recovered domain key to hsm.RestoreBackup,
// which only an UNINITIALIZED HSM core accepts. The cluster is then INITIALIZED with the
// source cluster's certificates and reports the core's state: ACTIVE when the backed-up
// core was active, with its users, passwords and keys. Only the "hsm" part is restored:
// the cloudhsm records (clusters, backups) stay those of the running cluster.
//
// ClusterInfo gives KMS custom key stores a cluster's reported state, trust anchor, HSM
// zones and lineage: a cluster restored from another's backup has the same lineage, hence
// the same keys.
//
// # State
//
// The records are the "cloudhsm" part of the replicated state. Mutations are commands
// applied deterministically; records carry a revision and read-modify-writes retry when
// another change came between. The part must survive an HSM zeroization (the server wipes
// the replicated state but keeps "cloudhsm"), or the backups could not be found to restore.
package cloudhsm
