"""Peer: redis-server on loopback with the redis Python client, doing what
benches/userview.py does (one client, set then get, values are small ints).

    python3 benches/peer_redis.py PORT OPS
"""
import sys
import time

from _util import emit, latency_stats


def measure(client, ops):
    clock = time.perf_counter
    out = {}
    for op in ("set", "get"):
        samples = []
        begin = clock()
        for i in range(ops):
            key = f"k{i % 1000}"
            start = clock()
            if op == "set":
                client.set(key, i)
            else:
                client.get(key)
            samples.append(clock() - start)
        total = clock() - begin
        out[op] = dict(latency_stats(samples), ops_per_s=ops / total)
    return out


if __name__ == "__main__":
    import redis
    port, ops = int(sys.argv[1]), int(sys.argv[2])
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    measure(client, 1000)
    emit(ops=ops, **measure(client, ops))
