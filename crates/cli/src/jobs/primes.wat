;; The demo job: counts the primes below n by trial division.
;; stdin: n as 4 bytes, little-endian. stdout: the count as 8 bytes,
;; little-endian. A WASI command with no other imports, so every device
;; computes the same bytes.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: input iovec (buf 64, len 4)   8: bytes read
  ;; 16: output iovec (buf 128, len 8) 24: bytes written
  (func (export "_start")
    (local $n i32) (local $i i32) (local $j i32) (local $prime i32)
    (local $count i64)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 4))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 64)))
    (local.set $i (i32.const 2))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $prime (i32.const 1))
        (local.set $j (i32.const 2))
        (block $decided
          (loop $divide
            (br_if $decided
              (i64.gt_u
                (i64.mul (i64.extend_i32_u (local.get $j)) (i64.extend_i32_u (local.get $j)))
                (i64.extend_i32_u (local.get $i))))
            (if (i32.eqz (i32.rem_u (local.get $i) (local.get $j)))
              (then (local.set $prime (i32.const 0)) (br $decided)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $divide)))
        (local.set $count (i64.add (local.get $count) (i64.extend_i32_u (local.get $prime))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.store (i32.const 128) (local.get $count))
    (i32.store (i32.const 16) (i32.const 128))
    (i32.store (i32.const 20) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
