import os, sys, time, resource
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
os.environ.setdefault("AWS_ACCESS_KEY_ID","a"); os.environ.setdefault("AWS_SECRET_ACCESS_KEY","b")
os.environ["AWS_EC2_METADATA_DISABLED"]="true"
import s3fast
url = sys.argv[1]; ca = sys.argv[2] if len(sys.argv) > 2 else None
SRC = PROBE + "/data/bench/big"; SIZE = os.path.getsize(SRC)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
async def main():
    cfg = s3fast.TransferConfig(checksum=os.environ.get("CK", "crc64nvme"))
    async with s3fast.Client(endpoint_url=url, region="us-east-1", ca_bundle=ca, config=cfg) as c:
        t0 = time.monotonic(); c0 = cpu()
        await c.upload(SRC, "s3://bench/up")
        t1 = time.monotonic(); c1 = cpu()
        print(f"upload: {SIZE/(t1-t0)/1e6:.0f} MB/s user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f} s/GiB")
s3fast.run(main())
