"""RetrieveAndGenerate: the request (knowledge base, model ARN, results, filter, session, KMS key,
prompt template, inference settings, guardrail) checked by botocore's Stubber; the answer's
citations as references; the session id, continued; and end to end against the local service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from bedrock_models import CLAUDE, REGION
from botocore.stub import Stubber

from genai_commons import (
    BadRequestError,
    Host,
    KnowledgeBase,
    Request,
    Response,
    SourceType,
    StopReason,
    ValidationError,
)
from genai_commons.model import Eq
from genai_commons_bedrock import (
    BedrockProvider,
    GuardrailOptions,
    RetrieveAndGenerateOptions,
    RetrieveAndGenerateResponse,
    session_id_of,
)
from genai_commons_bedrock.rag import model_arn
from genai_commons_bedrock.testing import Document, LocalBedrock, attach

MODEL = f"bedrock:{CLAUDE}"
ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{CLAUDE}"
KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
SESSION = "3f1c9e7a-2b8d-4c6e-9a0f-123456789abc"


@pytest.fixture
def stubbed(make_host: Callable[..., Host], session: Any) -> tuple[Host, Stubber]:
    plugin = BedrockProvider(session=session)
    host = make_host(plugin)
    plugin._knowledge_bases["KB00000001"] = KnowledgeBase(provider="bedrock", name="handbook", collection="KB00000001")
    stubber = Stubber(plugin.clients.client("bedrock-agent-runtime"))
    stubber.activate()
    yield host, stubber
    stubber.assert_no_pending_responses()
    stubber.deactivate()


CITED = {
    "output": {"text": "The rotation changes on Monday. Weekends are split."},
    "sessionId": SESSION,
    "citations": [
        {
            "generatedResponsePart": {
                "textResponsePart": {"text": "The rotation changes on Monday.", "span": {"start": 0, "end": 30}}
            },
            "retrievedReferences": [
                {
                    "content": {"text": "Rotation: every Monday at 10:00."},
                    "location": {"type": "S3", "s3Location": {"uri": "s3://docs/oncall.md"}},
                    "metadata": {"x-amz-bedrock-kb-source-uri": "s3://docs/oncall.md"},
                },
                {
                    "content": {"text": "Holidays move the rotation."},
                    "location": {"type": "WEB", "webLocation": {"url": "https://wiki.example.com/holidays"}},
                    "metadata": {"title": "Holidays"},
                },
            ],
        },
        {
            "generatedResponsePart": {
                "textResponsePart": {"text": "Weekends are split.", "span": {"start": 32, "end": 50}}
            },
            "retrievedReferences": [
                {
                    "content": {"text": "Rotation: every Monday at 10:00."},
                    "location": {"type": "S3", "s3Location": {"uri": "s3://docs/oncall.md"}},
                }
            ],
        },
    ],
}


def test_the_request_carries_everything_and_the_citations_become_references(stubbed) -> None:
    host, stubber = stubbed
    expected = {
        "input": {"text": "When does the rotation change?"},
        "retrieveAndGenerateConfiguration": {
            "type": "KNOWLEDGE_BASE",
            "knowledgeBaseConfiguration": {
                "knowledgeBaseId": "KB00000001",
                "modelArn": ARN,
                "retrievalConfiguration": {
                    "vectorSearchConfiguration": {
                        "numberOfResults": 4,
                        "filter": {"equals": {"key": "team", "value": "platform"}},
                        "overrideSearchType": "HYBRID",
                    }
                },
                "generationConfiguration": {
                    "promptTemplate": {
                        "textPromptTemplate": "Be brief.\n$search_results$\n$output_format_instructions$"
                    },
                    "inferenceConfig": {"textInferenceConfig": {"maxTokens": 200, "temperature": 0.1}},
                    "guardrailConfiguration": {"guardrailId": "gr-1", "guardrailVersion": "2"},
                },
            },
        },
        "sessionId": SESSION,
        "sessionConfiguration": {"kmsKeyArn": KMS},
    }
    stubber.add_response("retrieve_and_generate", CITED, expected)
    options = RetrieveAndGenerateOptions(
        session_id=SESSION,
        kms_key_arn=KMS,
        prompt_template="Be brief.\n$search_results$\n$output_format_instructions$",
        search_type="HYBRID",
    )
    request = (
        Request.create(max_tokens=200, temperature=0.1)
        .with_message("user", "When does the rotation change?")
        .with_options(options, GuardrailOptions(identifier="gr-1", version="2"))
    )
    answer = host.retrieve_and_generate(
        "bedrock:handbook", request, model=MODEL, k=4, filter=Eq(key="team", value="platform")
    )
    assert isinstance(answer, RetrieveAndGenerateResponse) and isinstance(answer, Response)
    assert answer.text == "The rotation changes on Monday. Weekends are split."
    assert (answer.session_id, session_id_of(answer), answer.model_id) == (SESSION, SESSION, CLAUDE)
    assert answer.duration_ms is not None and answer.stop_reason is None
    oncall, holidays = answer.references
    assert (oncall.title, oncall.source, oncall.source_type) == (
        "oncall.md",
        "s3://docs/oncall.md",
        SourceType.LOCATION,
    )
    assert oncall.content == "Rotation: every Monday at 10:00."
    assert [(c.start_index, c.end_index, c.text) for c in oncall.citations] == [
        (0, 31, "The rotation changes on Monday."),
        (32, 51, "Weekends are split."),
    ]
    for citation in oncall.citations:
        assert answer.text[citation.start_index : citation.end_index] == citation.text
        assert citation.quote == oncall.content
    assert (holidays.title, holidays.source_type, len(holidays.citations)) == ("Holidays", SourceType.URL, 1)


def test_a_system_prompt_becomes_a_prompt_template_and_a_guardrail_stops(stubbed) -> None:
    host, stubber = stubbed
    configuration = {
        "knowledgeBaseId": "KB00000001",
        "modelArn": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 5, "overrideSearchType": "HYBRID"}},
        "generationConfiguration": {
            "promptTemplate": {
                "textPromptTemplate": "Answer as a pirate.\n\nSearch results:\n$search_results$\n\n"
                "$output_format_instructions$"
            }
        },
    }
    expected = {
        "input": {"text": "Tell me something forbidden"},
        "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": configuration},
    }
    stubbed_answer = {"output": {"text": "Blocked."}, "sessionId": SESSION, "guardrailAction": "INTERVENED"}
    stubber.add_response("retrieve_and_generate", stubbed_answer, expected)
    request = Request.from_prompt("Tell me something forbidden", system_prompt="Answer as a pirate.")
    answer = host.retrieve_and_generate(
        "bedrock:KB00000001", request, model="bedrock:us.anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    assert (answer.stop_reason, answer.provider_stop_reason) == (StopReason.CONTENT_FILTERED, "guardrail_intervened")
    assert answer.guardrail_action == "INTERVENED" and answer.references == ()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"model": None}, "answers with a Bedrock model: give one"),
        ({"model": "bedrock:x", "min_similarity": 0.5}, "no minimum similarity"),
        (
            {"question": Request.from_prompt("a").with_message("assistant", "b").with_message("user", "c")},
            "one question",
        ),
    ],
)
def test_what_retrieve_and_generate_cannot_take_is_refused_before_calling(stubbed, call, message) -> None:
    host, _ = stubbed
    call = dict(call)
    question = call.pop("question", "question?")
    with pytest.raises(ValidationError, match=message):
        host.retrieve_and_generate("bedrock:handbook", question, **{"model": MODEL, **call})


def test_the_options_check_their_values() -> None:
    with pytest.raises(ValueError, match="session_id"):
        RetrieveAndGenerateOptions(session_id="not a session!")
    with pytest.raises(ValueError, match="kms_key_arn"):
        RetrieveAndGenerateOptions(kms_key_arn="key-1")
    with pytest.raises(ValidationError, match=r"\$search_results\$"):
        RetrieveAndGenerateOptions(prompt_template="no placeholder")
    with pytest.raises(ValueError, match="search_type"):
        RetrieveAndGenerateOptions(search_type="FUZZY")
    assert RetrieveAndGenerateOptions.continuing(Response.of_text("x")).session_id is None


def test_model_arns() -> None:
    assert model_arn(CLAUDE, region="eu-west-1") == f"arn:aws:bedrock:eu-west-1::foundation-model/{CLAUDE}"
    assert model_arn(CLAUDE, region="cn-north-1", partition="aws-cn").startswith("arn:aws-cn:bedrock:cn-north-1::")
    assert model_arn("eu.anthropic.claude-3-haiku-20240307-v1:0", region=None).startswith("eu.")
    provisioned = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc"
    assert model_arn(provisioned, region="us-east-1") == provisioned
    with pytest.raises(Exception, match="set region"):
        model_arn(CLAUDE, region=None)


# -- end to end against the local service ------------------------------------------------------


@pytest.fixture
def local(make_host: Callable[..., Host], session: Any) -> tuple[Host, LocalBedrock]:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base(
        "handbook",
        [
            Document(uri="s3://docs/oncall.md", text="The on-call rotation changes every Monday. It starts at ten."),
            Document(uri="s3://docs/pagers.md", text="Pagers are kept in the top drawer of the office."),
        ],
        knowledge_base_id="KBHANDBOOK",
    )
    return make_host(BedrockProvider(session=session)), service


def test_a_session_continues_a_conversation(local) -> None:
    host, service = local
    first = host.retrieve_and_generate("bedrock:handbook", "When does the on-call rotation change?", model=MODEL)
    assert first.text.startswith("The on-call rotation changes every Monday.")
    assert first.references[0].source == "s3://docs/oncall.md"
    follow = Request.from_prompt("Where are the pagers?").with_options(RetrieveAndGenerateOptions.continuing(first))
    second = asyncio.run(host.aretrieve_and_generate("bedrock:handbook", follow, model=MODEL))
    assert second.session_id == first.session_id and second.text.startswith("Pagers are kept")
    assert service.knowledge.sessions[first.session_id] == [
        "When does the on-call rotation change?",
        "Where are the pagers?",
    ]
    sent = service.calls("retrieve_and_generate")[-1].body
    assert sent["sessionId"] == first.session_id
    assert sent["retrieveAndGenerateConfiguration"]["knowledgeBaseConfiguration"]["modelArn"] == ARN


def test_an_unknown_session_is_a_bad_request(local) -> None:
    host, _ = local
    stale = Request.from_prompt("hello").with_options(RetrieveAndGenerateOptions(session_id="gone-session"))
    with pytest.raises(BadRequestError, match="Session with Id gone-session is not valid") as info:
        host.retrieve_and_generate("bedrock:handbook", stale, model=MODEL)
    assert info.value.status == 400 and info.value.body


def test_the_host_records_one_usage_event(make_host, session, recorder) -> None:
    service = attach(session, LocalBedrock())
    service.add_knowledge_base("kb", [Document(uri="s3://a/b.txt", text="Bees make honey.")])
    host = make_host(BedrockProvider(session=session))
    host.retrieve_and_generate("bedrock:kb", "Who makes honey?", model=MODEL)
    assert recorder.operations == ["retrieve_and_generate"]
    assert recorder.records[0].model_id == CLAUDE
