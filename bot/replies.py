"""What the bot says, in Chinese and English. Templates only: decisions live in the engine."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "notice": {
        "zh": "您好，我是12348公共法律服务智能助手。\n"
              "· 我不是律师，回答仅供参考，复杂问题我会为您转接律师。\n"
              "· 如遇人身危险，请先拨打110（医疗急救120）。\n"
              "· 隐私说明：您的消息会被保存，仅用于解答和转接律师，可随时要求删除；请不要发送身份证号、银行卡号等敏感信息。",
        "en": "Hello, I am the 12348 public legal service assistant.\n"
              "· I am not a lawyer; my answers are general information, and I can connect you to a lawyer.\n"
              "· If you are in danger, call 110 first (ambulance 120).\n"
              "· Privacy: your messages are stored only to answer you and hand you to a lawyer; you can ask for them "
              "to be deleted. Please do not send ID or bank card numbers.",
    },
    "greet": {"zh": "您好！请直接说说您遇到的法律问题，或选择一个类别：",
              "en": "Hello! Tell me about your legal problem, or pick a category:"},
    "thanks": {"zh": "不客气！还有其他问题可以随时问我。", "en": "You're welcome! Ask me anything else at any time."},
    "goodbye": {"zh": "再见，祝您一切顺利。需要时可随时再来咨询，或拨打12348。",
                "en": "Goodbye, all the best. Come back any time, or call 12348."},
    "chitchat": {"zh": "我是法律服务助手，最擅长回答法律问题。请说说您遇到的事情吧。",
                 "en": "I am a legal service assistant and best at legal questions. What happened?"},
    "out_of_scope": {"zh": "抱歉，这个问题不在我的服务范围内。我只能解答法律问题、介绍法律援助、调解、公证等公共法律服务。",
                     "en": "Sorry, that is outside what I can help with. I answer legal questions and explain public "
                           "legal services such as legal aid, mediation and notarization."},
    "affirm": {"zh": "好的。请继续说说您的情况。", "en": "OK. Please tell me more."},
    "deny": {"zh": "好的。还有其他问题吗？", "en": "OK. Anything else?"},
    "empty": {"zh": "您好像没有输入文字。请用一两句话描述您遇到的法律问题。",
              "en": "Your message looks empty. Please describe your legal problem in a sentence or two."},
    "no_text": {"zh": "抱歉，我暂时只能看懂文字。请用文字描述您的问题。",
                "en": "Sorry, I can only read text for now. Please describe your problem in words."},
    "too_long": {"zh": "您的消息很长，我先根据前面部分回答；细节较多的情况建议转接律师。",
                 "en": "Your message is long, so I read the first part; for detailed cases a lawyer can help."},
    "clarify": {"zh": "我想确认一下，您的问题属于哪一类？", "en": "To make sure I understand: which area is your question about?"},
    "answer_footer": {"zh": "（以上为一般性法律信息，不构成正式法律意见。）",
                      "en": "(General legal information, not formal legal advice.)"},
    "legal_basis": {"zh": "法律依据：", "en": "Legal basis: "},
    "next_step": {"zh": "下一步：", "en": "Next step: "},
    "helpful_thanks": {"zh": "很高兴能帮到您！还有其他问题可以继续问。", "en": "Glad it helped! Ask anything else."},
    "not_helpful": {"zh": "抱歉没能帮上忙。您可以换个说法再问，或者转接律师。",
                    "en": "Sorry that did not help. Rephrase your question, or talk to a lawyer."},
    "handoff": {"zh": "已为您转接律师，请稍候。您前面还有 {ahead} 位，预计等待约 {minutes} 分钟。律师接入后会在这里回复您；紧急情况请拨打110，法律咨询也可拨打12348。",
                "en": "I am connecting you to a lawyer; {ahead} ahead of you, about {minutes} minutes. The lawyer "
                      "will reply here. In an emergency call 110; for legal advice you can also call 12348."},
    "out_of_hours": {"zh": "现在是律师非工作时间（工作时间：{hours}），律师将在上班后尽快回复您。需要马上咨询可拨打12348公共法律服务热线；紧急情况请拨打110。",
                     "en": "Lawyers are off duty now (working hours: {hours}); one will reply as soon as they are "
                           "back. For advice now call the 12348 hotline; in an emergency call 110."},
    "handoff_complex": {"zh": "您的情况涉及的问题较多或已进入法律程序，由律师为您解答更稳妥。",
                        "en": "Your situation involves several issues or ongoing proceedings, so a lawyer should answer."},
    "handoff_unclear": {"zh": "我没能准确理解您的问题，为避免给出错误解答，将为您转接律师。",
                        "en": "I could not understand your question well enough to answer safely, so I will connect "
                              "you to a lawyer."},
    "urgent": {"zh": "⚠️ 如果您或他人正处于危险中，请立即拨打110报警{extra}。\n我已为您优先转接值班律师，请保持联系。法律咨询可拨打12348。",
               "en": "⚠️ If you or someone else is in danger, call 110 now{extra}.\nI have put you first in line "
                     "for the duty lawyer. For legal advice you can also call 12348."},
    "urgent_dv": {"zh": "；家庭暴力可拨打妇女维权热线12338，也可向法院申请人身安全保护令",
                  "en": "; for domestic violence you can also call the women's hotline 12338 and ask a court "
                        "for a personal safety protection order"},
    "urgent_medical": {"zh": "；需要急救请拨打120", "en": "; for an ambulance call 120"},
    "urgent_self_harm": {"zh": "；需要急救请拨打120，心理援助热线可拨打12356",
                         "en": "; for an ambulance call 120, or the mental health hotline 12356"},
    "still_waiting": {"zh": "您的消息已转给律师。目前您前面还有 {ahead} 位，请稍候。",
                      "en": "Your message was passed to the lawyer. {ahead} ahead of you; please wait."},
    "lawyer_joined": {"zh": "{name}律师已接入，您可以直接在这里和律师交流。",
                      "en": "Lawyer {name} has joined; you can talk here now."},
    "resolved": {"zh": "律师已结束本次咨询。请为本次服务打分（1-5分）：",
                 "en": "The lawyer has closed this consultation. Please rate the help (1-5):"},
    "rated": {"zh": "感谢您的评价！如愿意，可以再写几句意见。", "en": "Thank you for your rating! You can add a comment if you like."},
    "btn_comment": {"zh": "写几句意见", "en": "Add a comment"},
    "ask_comment": {"zh": "请直接输入您的意见（一条消息即可）。", "en": "Please type your comment in one message."},
    "comment_thanks": {"zh": "已收到您的意见，谢谢！", "en": "Thank you, your comment was recorded."},
    "withdrawn": {"zh": "已为您取消转接。还有其他问题可以随时再问。",
                  "en": "The handoff is cancelled. Ask again any time."},
    "expired": {"zh": "抱歉，暂时没有律师能接入。请拨打12348公共法律服务热线，或前往当地公共法律服务中心咨询。",
                "en": "Sorry, no lawyer could take your chat. Please call the 12348 hotline or visit a public "
                      "legal service centre."},
    "error": {"zh": "抱歉，系统处理您的消息时出了问题。您的消息已保存，请稍后再试，或拨打12348。",
              "en": "Sorry, something went wrong while handling your message. It has been saved; please try "
                    "again later, or call 12348."},
    "btn_helpful": {"zh": "有帮助", "en": "Helpful"},
    "btn_not_helpful": {"zh": "没帮助", "en": "Not helpful"},
    "btn_lawyer": {"zh": "转接律师", "en": "Talk to a lawyer"},
    "btn_cancel": {"zh": "取消转接", "en": "Cancel"},
    "btn_other": {"zh": "都不是", "en": "None of these"},
    "btn_menu": {"zh": "菜单", "en": "Menu"},
}


def t(key: str, lang: str = "zh", **kwargs: object) -> str:
    texts = TEXTS[key]
    template = texts.get(lang) or texts["zh"]
    return template.format(**kwargs) if kwargs else template
