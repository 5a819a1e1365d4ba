"""Plumbing a notebook never opens: get, check and convert the real data into a safe cache.

Run ``python -m tutorial_utils.io --help`` for the data command line (:mod:`.cli`).

* getting the originals: :mod:`.download` (Google Drive, ``--from-dir``), :mod:`.sources`
  (download records, bad downloads discarded);
* reading them safely: :mod:`.safe_pickle` (entry points), :mod:`.unpickler`,
  :mod:`.pickle_policy`, :mod:`.pickle_guards`, :mod:`.torch_format`; :mod:`.originals` and
  :mod:`.validate` (one clear message per bad file or value); :mod:`.extract` (re-extraction,
  batching) and :mod:`.devices` (``--device``, optional torch, full float32 on GPUs);
* writing the cache: :mod:`.convert` (the run), :mod:`.plan` (what to do, up-to-date check),
  :mod:`.transaction` (build beside, switch atomically), :mod:`.lock` (one run per
  directory), :mod:`.files` (atomic writes hashed as written);
* reading the cache: :mod:`.manifest` (layout, schema, checks), :mod:`.cache` (load);
* features computed from the audio, kept on disk by their inputs' sha256:
  :mod:`.feature_cache`;
* the opt-in ``--store npy`` (one ``.npy`` per recording, read lazily): :mod:`.store`,
  :mod:`.store_index` (its index and checks).
"""
