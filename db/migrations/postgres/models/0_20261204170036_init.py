from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "projects" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(64) NOT NULL UNIQUE,
    "status" VARCHAR(16) NOT NULL,
    "schedule" VARCHAR(128),
    "schedule_chat_id" BIGINT,
    "created_by" BIGINT,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "projects"."name" IS '1-64 of a-z 0-9 _ -';
COMMENT ON COLUMN "projects"."status" IS 'RUNNING: running\nSTOPPED: stopped\nPAUSED: paused\nFAILED: failed';
COMMENT ON COLUMN "projects"."schedule" IS 'ISO 8601 datetime or a 5-field cron expression; None when not scheduled.';
COMMENT ON COLUMN "projects"."schedule_chat_id" IS 'Chat that scheduled runs report to.';
CREATE TABLE IF NOT EXISTS "captures" (
    "chat_id" BIGINT NOT NULL PRIMARY KEY,
    "user_id" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "captures" IS 'A pending message capture: the next message in this chat is appended to the project.';
CREATE TABLE IF NOT EXISTS "messages" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "position" INT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "origin_chat_id" BIGINT,
    "origin_message_id" BIGINT,
    "content" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE
);
COMMENT ON COLUMN "messages"."kind" IS 'text, photo, video, document, audio, animation, voice, sticker';
COMMENT ON COLUMN "messages"."origin_chat_id" IS 'Where the operator sent it: copyMessage from there is the faithful path.';
COMMENT ON COLUMN "messages"."content" IS 'The content (text and entities, or file id, caption and entities) for when the';
CREATE TABLE IF NOT EXISTS "process_runs" (
    "id" UUID NOT NULL PRIMARY KEY,
    "status" VARCHAR(16) NOT NULL,
    "stats" JSONB NOT NULL,
    "chat_id" BIGINT,
    "progress_message_id" BIGINT,
    "notified_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_process_run_created_bb4e41" ON "process_runs" ("created_at");
COMMENT ON COLUMN "process_runs"."status" IS 'RUNNING: running\nPAUSED: paused\nCOMPLETED: completed\nSTOPPED: stopped\nFAILED: failed';
COMMENT ON COLUMN "process_runs"."stats" IS 'Exactly {\"total_jobs\", \"completed_jobs\", \"success_count\", \"error_count\"}.';
COMMENT ON COLUMN "process_runs"."chat_id" IS 'Where the progress message and the completion notice go.';
COMMENT ON COLUMN "process_runs"."notified_at" IS 'Set once the completion notice was posted, so a restart never posts it twice.';
CREATE TABLE IF NOT EXISTS "send_jobs" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "chat" VARCHAR(64) NOT NULL,
    "target_no" INT NOT NULL,
    "seq" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "last_error" TEXT,
    "sent_message_id" BIGINT,
    "due_at" TIMESTAMPTZ NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "message_id" BIGINT REFERENCES "messages" ("id") ON DELETE SET NULL,
    "run_id" UUID NOT NULL REFERENCES "process_runs" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_send_jobs_run_id_611a79" ON "send_jobs" ("run_id", "status", "due_at");
CREATE INDEX IF NOT EXISTS "idx_send_jobs_run_id_19b733" ON "send_jobs" ("run_id", "target_no", "seq");
COMMENT ON COLUMN "send_jobs"."chat" IS 'The target as it was when the run started (a migration may update it).';
COMMENT ON COLUMN "send_jobs"."target_no" IS 'Position of the target in the project; with `seq` it orders a target''s messages.';
COMMENT ON COLUMN "send_jobs"."seq" IS 'The message''s position in the project.';
COMMENT ON COLUMN "send_jobs"."status" IS 'WAITING: waiting\nPENDING: pending\nRETRYING: retrying\nQUEUED: queued\nSUCCEEDED: succeeded\nFAILED: failed\nCANCELLED: cancelled';
COMMENT ON COLUMN "send_jobs"."attempts" IS 'Attempts made; a 429 is not an attempt.';
CREATE TABLE IF NOT EXISTS "targets" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "chat" VARCHAR(64) NOT NULL,
    "position" INT NOT NULL,
    "added_at" TIMESTAMPTZ NOT NULL,
    "project_id" UUID NOT NULL REFERENCES "projects" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_targets_project_8920c7" UNIQUE ("project_id", "chat")
);
COMMENT ON COLUMN "targets"."chat" IS 'As the operator wrote it, normalised: \"@username\" or \"-100…\" (a 64-bit id).';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXf9T27gS/1c0/uXoTOhASimlb24uDWkvdzRwEF7vXdPJCVtJdDiSa8sFro///e0qdv"
    "w9LwkJdXL+pcBqV5Z3tdLuRyv3mzGWFrO9503qKN9lxjH5Zgg6xl/STTViUMeJGpCg6LWt"
    "ec0JkybSa0+51FRAH1DbY0CymGe63FFcCuRuEIcJi4shGTPPo0NGAvljokaMCHanpi1cAI"
    "17xBxRReAnjAFkmUWU1MyOK/9ipnqOT7akCY+Gftf1kJ7oCcpcbo4IvBF1GLASz6beCLsw"
    "5XjMhPLgd5Dj4iu1uUXO79VICmy//O2UK0bGfOhSVIVX6wlPkumooTNhkQFnthX1JQdkom"
    "9Cv0roTj+Nefp9fcG/+Kyv5JDBKF1460+fgcxh6Hdgi+BP56av+0wYF9+0zy3sRTf21b2j"
    "G97yYVuod1oAVXrdN6Xtj0VKyNFvNZWCN0bqkAkG78asmO2Fb9vBNAlJk3EDQbk+mw7Yig"
    "gWG1DfxhmE0pNhRDSj3++cdfuXrW6/b2RmVygRmwsByQSVw8yEsXpaF0Mcwu7rev3Fi1f1"
    "vReHRy8PXr16ebR3BLx6vNmmVw+TwUQ6m3SlNdd+3+50cUASpv/EL5DwoGWoohMpbZfIEL"
    "7H3IUNERNajSFCQmSJyHW3zBQxH3AZqqhPVVb7J9Ci+JgVOEJCMmUCKxB9Hv6yiQaBF7TO"
    "hH0f+OQMXXfbH1qX3caHc3zc2PO+2Fp/jW4LW+qaep+i7hw+Sxpn2gn52O7+TPBP8sdZp6"
    "XVKz01dPUTI77uHwaOifpK9oW87VMrtnyE1FBrCasHa3muz11dtU/yLZ6USlnc97n1HGU3"
    "0NIzLNv8uXGx82JiqrgR9Js+PODeMrjJXdQCbWUV/E66jA/Fr+xeq7kNQ6HCZDk6DaKP86"
    "inzVRsRI3mp0tvp1tyamaBBuC9mdI6aDYum42TlqFVfU3Nm1vqWv2EzrFF1mWKMuXNNo3r"
    "4zSFCoiBrOBFcNiB7j9MoqO8oDBsmhkUBtHVfEFhsV4fEeUsuq/Ou6UGdqxCm5mhDawZXI"
    "88Y4NCA8RFtimyqe8fvDo4enF4MDXAlDJL79mY5QbeI6vP5oi6+QoN+VPKhCGWR5mGglys"
    "RpyRVLJGvnKLwQ9QrY8ZUI1Q3+JAoIKPddoELJKb8FBPcfOGuZnM7/HdpY04pnd9m4mhGs"
    "Gf+4czLPbvxoXeNvfTEU4naKnrpqRRpcuHXPSXysmyskv5TbA6rdvSH2EBZzqllg4OR7rE"
    "A6sQro4h5XXug32FDFw5RjZghnQc+QeUq9HAt4lD1Sib7a+y41IkJ4Fdgz102WmRFC/xzC"
    "jl1hZLFaVQTOQEtL9cnnUKcsRIJJ0gclOR/xKbe2vb0Yx/DXxhom7Jtc9txYX3HB/7o7Gg"
    "w3bBQ4I3ITu4sGqMCv6CbZp5NQJ+NuA2OJNV0/gaPjHO8YwMgOV2xBBhYxm3XW33PTGZ9u"
    "jaQylYnjfPmApoy0QSG67ZOx8av6eX8+bp2dt0YoQdvK1AhgpkqECGCmTYIpAh0jnEVFb/"
    "L3nteTnhSCD77tcLZtOCLC7Q+CX084u83rzwo0jhD+sEYmB+mhDIXfjCyMFiYq21WXCMM+"
    "Hru74oGSRTvCKufiX8/7hMLHbST8J/DhYNnJ5gaazNgF5gxVN+jo8iUNAS/jizMCa0Hkk/"
    "HWxgwLQUqKgFA9SLq06n3Xl/TAL5njhvXF22To4hn/M9ZvVE8+zD+WmriyRTjh1c94B62T"
    "07P0eap6TjIOVdo32KBEgIbWalQ9WCEGbNyABaIseMxVnHVGCDc47WHaxK9j351jOUVNTW"
    "G04PGHvG1IAxmuebel0zpS/UhMRcV7oh4SGLFqzlCd870fgeJ/pPDhvBJoZK8KalG5gNKp"
    "1Farvh7BNScZNBBjgLJlq8o1IAEeGwlwaGCjoosfVLDg3hJAHpZTL8lOgKUvwn8sdLpoiE"
    "yKHAYW6pR3C5YlaNeJJQAhNOUVcRwb4yVzd5hCuiboE766Qr733+lblMOENoqZlAw2bBS0"
    "96Brq96NKAC+6NlrJ6SnRjlpxV5FNlMvNczl2hiBWKuI0oImZWT4Ufboqu1w0g6qmZjx6G"
    "s3YmdIhMFWy45bCh/pnRc3F1Uci/GphwHSVzxv7u4QFeoqC7f5O93dekT3YzCUcBz0ys7/"
    "BgDqzv8KAQ68OmLNa3YZhtgJ0+HrPNorFpFLeU6KwJkbRvL+QycZmlLPVEKX778owcHe7t"
    "kzAVwFoMSl7uBveTXFjn2J2DUBJIvCEdKdikEAPSdBK+pZXN7lfZ8Wx714/mMXj9qNji2J"
    "Zv8uWK9fKkS4y84TRWROE/U72jz3rEZY50oSkHYp1TphTYXYiBXN8vCJsn5EpswZJjp5uF"
    "XlXFUcvDV5kMfJ48MbxV/MhkMXaDecMmQWGyGHei+DWb5ZUUu9GzjUoKi16WV1CyzGYbda"
    "SoC4n5I9XU1Z1sk4rWCcyEOFYOMBODuIqBmWk93tqRmU/oQkHIGuWaFgjBFgy88fbJRIL1"
    "XzOzL8bn6oZeKW/oYRqySPIa8pf6NhneKZjMQEL1QTAeGIdXBDAVIfq4GNKSHRp9jIOM6T"
    "3xHYwYQeZZNq9ZXbdPjCslvHHOe5gJmTJfxDTOgxujiN+pyERcxD/c8obccjUif8Ja9Cea"
    "TroWc/HbLRPuH6ZVQF7W7ut4wJovieKSO7+tA+5SWxmdL9DgD7r6Y2KSpBHyfXY+sXVbZP"
    "Ow3eDrSYtiux8b7a7Gdm8pKFvX47Y6J5oS9NgTF63uxX8mADBT7r2m/XbVukJ8F0bo6/rc"
    "q2az1TrRmDCWXzIriwL3RLPRabZONclE1dmlwYapUmzs5EXThY4YF3k6b9xb0MCNYJSws1"
    "nsDSxxB/XXeOEO0VkqSPASOd/jml9uzc5oU0/1dQFv1jhddldgnaRUiaH7lZTKtH7vJtCk"
    "TIXyFFE6Peu8D9nTZcvpbUmopetWc4Qr3HVZ3DVI2zIGmI25RlJbiLduCL66hUWhFay+PK"
    "xeVYX+87x72R202jxXs3lGOOe85WiRRFWNO7sa1/Vzvha2TCXu9h3V1FLFuNGkyi/EzVky"
    "VqDa+Y8JS7ZWzKvW5CqZUC0MgXSuTk+/1/cYg6O1nLOi6NCt+Kgodrq32oOiT/Eaen1C8P"
    "kxVb3V6U91+vMIpLjhJb8Cd+tKffRSI0K6Y2pzj1nHpGf8hN/QRk30DCxA7Bm7+3t7Pb++"
    "Vz8Eyg4lhwe711wRbuWcBa3rIU98MlR9oHP14CIE8kulYHG5Ku8uS0JWfeurHHlBdUtvGz"
    "4o3tD/dUpeABu0zAxgacRTmito/5RI9ZHbY3EM+pW5Xm4EUhyGxkTKHInOr+JElFd/+XKO"
    "MA+4CuM83ZYKSsCpFtBwwL6F2oXwe56D/r294pN+bNvsjwN/n81/ZR+9WuAqweo3s4f/AX"
    "kbEJ0="
)
