import pathors_async
import pathors_async.batch
import pathors_async.stores
import pathors_async.testing


def public_names(module):
    # pytest's assertion rewriting (our pytest11 plugin lives in the package) adds
    # "@py_builtins"-style names; they are not identifiers, so they are not API.
    return {name for name in dir(module) if name.isidentifier() and not name.startswith("_")}


def test_all_lists_exactly_the_public_names():
    public = public_names(pathors_async)
    # submodules, reached as attributes once imported
    modules = {"batch", "cli", "stores", "testing"}
    assert sorted(pathors_async.__all__) == pathors_async.__all__
    assert set(pathors_async.__all__) - {"__version__"} == public - modules


def test_every_public_name_says_it_lives_in_the_package():
    aliases = {"AgentEvent", "HistoryMode"}  # type aliases: a Union and a Literal
    for name in set(pathors_async.__all__) - aliases - {"__version__"}:
        assert getattr(pathors_async, name).__module__.startswith("pathors_async"), name


def test_testing_all_is_sorted_and_complete():
    public = public_names(pathors_async.testing)
    assert sorted(pathors_async.testing.__all__) == pathors_async.testing.__all__
    assert set(pathors_async.testing.__all__) == public - {"pytest_plugin"}


def test_stores_all_is_sorted_and_complete():
    public = public_names(pathors_async.stores)
    assert sorted(pathors_async.stores.__all__) == pathors_async.stores.__all__
    assert set(pathors_async.stores.__all__) == public
    for name in pathors_async.stores.__all__:
        assert getattr(pathors_async.stores, name).__module__.startswith("pathors_async.stores")


# Every name DESIGN.md tells users to import.
DESIGN_NAMES = """
    APIConnectionError APIError APIStatusError APITimeoutError AsyncPathors AuthenticationError
    BadRequestError ChatCompletion ChatCompletionChunk Choice ChunkChoice ConflictError Delta
    FunctionCall InsufficientCreditsError InternalServerError MaxTurnsExceeded Message
    NotFoundError PathorsError PermissionDeniedError RateLimitError RetryPolicy StreamError
    Timeout ToolArgumentsError ToolCall ToolCallDelta ToolError ToolExecutionError
    ToolNotFoundError ToolSource Usage StoreError ConversationBusy LeaseLost RateLimit
""".split()


def test_design_names_are_exported():
    missing = [name for name in DESIGN_NAMES if name not in pathors_async.__all__]
    assert missing == []
    assert "FakePathors" in pathors_async.testing.__all__
    for name in ("MemoryStore", "SQLiteStore", "RedisStore", "ConversationStore"):
        assert name in pathors_async.stores.__all__


def test_batch_all_is_sorted_and_complete():
    public = public_names(pathors_async.batch)
    assert sorted(pathors_async.batch.__all__) == pathors_async.batch.__all__
    assert set(pathors_async.batch.__all__) == public
    for name in pathors_async.batch.__all__:
        assert getattr(pathors_async.batch, name).__module__.startswith("pathors_async.batch")
