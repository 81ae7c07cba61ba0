"""Special token ids and file names: the one place they are defined."""

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2  # <s>, start of sequence: decoding starts here
EOS_ID = 3  # </s>, end of sequence: decoding stops here
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"

# Inside a run directory.
CONFIG_FILE = "config.yaml"
SPM_JOINT = "spm.model"
SPM_SRC = "spm.src.model"
SPM_TGT = "spm.tgt.model"
VOCAB_FILE = "vocab.json"  # piece -> id table both sides share (imported Marian models)
CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"  # size and SHA-256 of each file of a checkpoint
LOCK_FILE = ".lock"  # one writer per run directory
METRICS_FILE = "metrics.jsonl"
LATEST_POINTER = "LATEST"  # in the runs root: name of the newest run

DEFAULT_RUNS_ROOT = "runs"
DATA_ENV = "NMT_DATA"
MAX_PAD_MULTIPLE = 64  # batch widths are padded to at most this multiple (train.pad_to_multiple)
