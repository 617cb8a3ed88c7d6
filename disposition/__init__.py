"""处置 (disposition): what happens to records at the end of their time here — appraisal
decisions and disposal holds, destruction batches and their run, transfer to the township
archive (prepare, receive, confirm) and the removal of transferred copies.

These are operations on an archive home: they read and write the catalogue, the storage
locations and the home's ledger. The rules they apply (the 保管期限表, appraisal and
approval logic, the registers' formats) are :mod:`retention`'s; the destruction register
is archived as a record through :mod:`ingest`.

- :mod:`disposition.disposal`: 鉴定、冻结与销毁 (the API of the destroy and retention commands).
- :mod:`disposition.transfer`: 移交与接收.
"""
