"""RetrieveAndGenerate: a Bedrock knowledge base answers a question in one call, with citations.

The session id that continues a conversation, the KMS key that encrypts the session and a prompt
template travel as :class:`RetrieveAndGenerateOptions` (``Request.with_options``). The answer is a
:class:`RetrieveAndGenerateResponse` — a :class:`Response` carrying the session id Bedrock returned,
as the connector's ``RetrieveAndGenerateResponse`` specialises GenAI Commons' ``Response``::

    first = host.retrieve_and_generate("bedrock:handbook", "Who is on call?", model=claude)
    follow_up = Request.from_prompt("And at weekends?").with_options(RetrieveAndGenerateOptions.continuing(first))
"""

from __future__ import annotations

import re
from typing import Any

from attrs import field, frozen
from attrs.validators import matches_re, optional

from genai_commons import BadRequestError, ConfigurationError, Response, ValidationError
from genai_commons.model import DeployedModel, KnowledgeBase, Message, Request, RetrievalQuery, Role, StopReason

from .errors import PROVIDER, Resource, translated_errors
from .filters import retrieval_filter
from .knowledge import MAX_RESULTS, override_search_type, refused_hybrid
from .options import GuardrailOptions
from .references import references_from_citations

_SESSION = r"^[0-9a-zA-Z._:-]{2,100}$"
_KMS_KEY = r"^arn:aws(|-cn|-us-gov):kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}$"
#: Inference profile ids start with a geography (``us.anthropic.…``); Bedrock takes them as they are.
_PROFILE = re.compile(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.")
#: The placeholders of a prompt template Bedrock fills in.
SEARCH_RESULTS = "$search_results$"
OUTPUT_FORMAT = "$output_format_instructions$"


def _template(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is not None and SEARCH_RESULTS not in value:
        raise ValidationError(f"a RetrieveAndGenerate prompt template must contain {SEARCH_RESULTS}")


@frozen(kw_only=True)
class RetrieveAndGenerateOptions:
    """The seed's ``RetrieveAndGenerateRequest_Extension``: options of RetrieveAndGenerate.

    :param session_id: continue this conversation with the knowledge base (the ``session_id`` of
        an earlier :class:`RetrieveAndGenerateResponse`); a new session when None.
    :param kms_key_arn: the ARN of the KMS key that encrypts the session.
    :param prompt_template: the generation prompt, with ``$search_results$`` where the retrieved
        passages go (and ``$output_format_instructions$`` for citations, ``$query$`` for the question).
    :param search_type: ``"HYBRID"`` or ``"SEMANTIC"`` search, where the vector store offers both;
        wins over the portable ``search_type`` (``host.retrieve_and_generate(..., search_type=...)``),
        which is the one to prefer.
    """

    session_id: str | None = field(default=None, validator=optional(matches_re(_SESSION)))
    kms_key_arn: str | None = field(default=None, validator=optional(matches_re(_KMS_KEY)))
    prompt_template: str | None = field(default=None, validator=_template)
    search_type: str | None = field(default=None, validator=optional(matches_re(r"^(HYBRID|SEMANTIC)$")))

    @classmethod
    def continuing(cls, response: Response, **options: Any) -> RetrieveAndGenerateOptions:
        """Options that continue the session of an earlier answer (any other option as keyword)."""
        return cls(session_id=session_id_of(response), **options)


@frozen(kw_only=True)
class RetrieveAndGenerateResponse(Response):
    """A RetrieveAndGenerate answer: a :class:`Response` with Bedrock's session id (the seed's
    ``RetrieveAndGenerateResponse``), to continue the conversation."""

    session_id: str | None = None
    #: ``INTERVENED`` when a guardrail changed the answer.
    guardrail_action: str | None = None


def session_id_of(response: Response) -> str | None:
    """The session id of a RetrieveAndGenerate answer (None for any other response)."""
    return response.session_id if isinstance(response, RetrieveAndGenerateResponse) else None


def model_arn(model_id: str, *, region: str | None, partition: str = "aws") -> str:
    """The ``modelArn`` of a model id: an ARN or an inference profile id as given, a foundation
    model id as its ARN in the region."""
    if model_id.startswith("arn:") or _PROFILE.match(model_id):
        return model_id
    if not region:
        raise ConfigurationError(
            "RetrieveAndGenerate needs the model's ARN, made from the region: set region in [providers.bedrock] "
            "or AWS_REGION, or give the model's ARN"
        )
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"


def _inference(request: Request) -> dict[str, Any]:
    text = {
        key: value
        for key, value in (
            ("maxTokens", request.max_tokens),
            ("temperature", request.temperature),
            ("topP", request.top_p),
            ("stopSequences", list(request.stop_sequences) or None),
        )
        if value is not None
    }
    return {"textInferenceConfig": text} if text else {}


def _checked(
    knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery
) -> tuple[DeployedModel, str]:
    """The generating model and the question, once the call is known to fit RetrieveAndGenerate."""
    if model is None:
        raise ValidationError(
            f"knowledge base {knowledge_base.ref} answers with a Bedrock model: give one, "
            "e.g. model='bedrock:anthropic.claude-3-haiku-20240307-v1:0'"
        )
    if model.provider != PROVIDER:
        raise ValidationError(f"knowledge base {knowledge_base.ref} answers with Bedrock models only, not {model.ref}")
    if sum(1 for m in request.messages if m.role is not Role.SYSTEM) > 1:
        raise ValidationError(
            "RetrieveAndGenerate takes one question, not a conversation: continue one with "
            "RetrieveAndGenerateOptions(session_id=...) instead of sending the history"
        )
    if query.min_similarity is not None:
        raise ValidationError("RetrieveAndGenerate has no minimum similarity: leave min_similarity out")
    if query.text is None:
        raise ValidationError("RetrieveAndGenerate needs the question's text")
    return model, query.text


def retrieve_and_generate_request(
    knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery, *,
    region: str | None, partition: str = "aws",
) -> dict[str, Any]:  # fmt: skip
    """The keyword arguments of RetrieveAndGenerate."""
    model, question = _checked(knowledge_base, model, request, query)
    options = request.option(RetrieveAndGenerateOptions) or RetrieveAndGenerateOptions()
    search: dict[str, Any] = {"numberOfResults": min(query.k, MAX_RESULTS)}
    where = retrieval_filter(query.combined_filter())
    if where is not None:
        search["filter"] = where
    override = options.search_type or override_search_type(knowledge_base, query.search_type)
    if override:
        search["overrideSearchType"] = override
    generation: dict[str, Any] = {}
    template = options.prompt_template
    if template is None and request.system_prompt:
        template = f"{request.system_prompt}\n\nSearch results:\n{SEARCH_RESULTS}\n\n{OUTPUT_FORMAT}"
    if template is not None:
        generation["promptTemplate"] = {"textPromptTemplate": template}
    inference = _inference(request)
    if inference:
        generation["inferenceConfig"] = inference
    guardrail = request.option(GuardrailOptions)
    if guardrail is not None:
        generation["guardrailConfiguration"] = {
            "guardrailId": guardrail.identifier,
            "guardrailVersion": guardrail.version,
        }
    configuration: dict[str, Any] = {
        "knowledgeBaseId": knowledge_base.collection,
        "modelArn": model_arn(model.model_id, region=region, partition=partition),
        "retrievalConfiguration": {"vectorSearchConfiguration": search},
    }
    if generation:
        configuration["generationConfiguration"] = generation
    kwargs: dict[str, Any] = {
        "input": {"text": question},
        "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": configuration},
    }
    if options.session_id:
        kwargs["sessionId"] = options.session_id
    if options.kms_key_arn:
        kwargs["sessionConfiguration"] = {"kmsKeyArn": options.kms_key_arn}
    return kwargs


def retrieve_and_generate(
    client: Any, knowledge_base: KnowledgeBase, model: DeployedModel | None, request: Request, query: RetrievalQuery,
    *, region: str | None,
) -> RetrieveAndGenerateResponse:  # fmt: skip
    """One RetrieveAndGenerate call: the answer, its references and citations, and the session id."""
    partition = str(getattr(client.meta, "partition", "aws") or "aws")
    kwargs = retrieve_and_generate_request(knowledge_base, model, request, query, region=region, partition=partition)
    resource = Resource("knowledge base", knowledge_base.collection)
    configuration = kwargs["retrieveAndGenerateConfiguration"]["knowledgeBaseConfiguration"]
    hybrid = configuration["retrievalConfiguration"]["vectorSearchConfiguration"].get("overrideSearchType") == "HYBRID"
    try:
        with translated_errors(region=region, resource=resource):
            answer = client.retrieve_and_generate(**kwargs)
    except BadRequestError as exc:
        refusal = refused_hybrid(knowledge_base, exc) if hybrid else None
        if refusal is None:
            raise
        raise refusal from exc
    guardrail = answer.get("guardrailAction")
    intervened = guardrail == "INTERVENED"
    return RetrieveAndGenerateResponse(
        message=Message(role=Role.ASSISTANT, content=answer["output"]["text"]),
        references=references_from_citations(answer.get("citations") or ()),
        stop_reason=StopReason.CONTENT_FILTERED if intervened else None,
        provider_stop_reason="guardrail_intervened" if intervened else None,
        model_id=model.model_id if model is not None else None,
        session_id=answer.get("sessionId"),
        guardrail_action=guardrail,
    )
