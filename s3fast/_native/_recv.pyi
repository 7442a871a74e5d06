# Stub of the compiled module (s3fast/_native/_recv.pyx); the pure twin is s3fast/_py/_recv.py,
# whose Receiver has the same fields, methods and hooks.
from s3fast._py._common import FILE_PROGRESS_STEP as FILE_PROGRESS_STEP
from s3fast._py._common import HEAD_BUFFER_SIZE as HEAD_BUFFER_SIZE
from s3fast._py._common import MODE_BODY as MODE_BODY
from s3fast._py._common import MODE_FILE as MODE_FILE
from s3fast._py._common import MODE_HEAD as MODE_HEAD
from s3fast._py._common import MODE_HELD as MODE_HELD
from s3fast._py._common import MODE_IDLE as MODE_IDLE
from s3fast._py._common import MODE_STASH as MODE_STASH
from s3fast._py._recv import Receiver as Receiver
