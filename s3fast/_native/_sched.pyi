# Stub of the compiled module, built from the pure twin s3fast/_py/_sched.py itself (typed by
# s3fast/_native/_sched.pxd): the same classes, so the same types.
from s3fast._py._sched import MeterCore as MeterCore
from s3fast._py._sched import SlotCore as SlotCore
