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
    "handoff": {"zh": "已为您转接律师，请稍候。您前面还有 {ahead} 位，预计等待 {low}–{high} 分钟。律师接入后会在这里回复您；紧急情况请拨打110，法律咨询也可拨打12348。",
                "en": "I am connecting you to a lawyer; {ahead} ahead of you, about {low}–{high} minutes. The lawyer "
                      "will reply here. In an emergency call 110; for legal advice you can also call 12348."},
    "handoff_off_duty": {"zh": "已为您转接律师。现在是律师非工作时间（工作时间：{hours}），律师将于{back}上班后按顺序回复您，您前面还有 {ahead} 位。需要马上咨询可拨打12348公共法律服务热线；紧急情况请拨打110。",
                         "en": "I have passed your chat to the lawyers. They are off duty now (working hours: {hours}) "
                               "and will reply in turn from {back}; {ahead} ahead of you. For advice now call the "
                               "12348 hotline; in an emergency call 110."},
    "handoff_after_closing": {"zh": "已为您转接律师。您前面还有 {ahead} 位，今天下班（{close}）前可能轮不到您，律师将于{back}继续按顺序回复。需要马上咨询可拨打12348公共法律服务热线；紧急情况请拨打110。",
                              "en": "I have passed your chat to the lawyers; {ahead} ahead of you, so your turn may not "
                                    "come before they close at {close}. They will go on in turn from {back}. For "
                                    "advice now call the 12348 hotline; in an emergency call 110."},
    "handoff_complex": {"zh": "您的情况涉及的问题较多或已进入法律程序，由律师为您解答更稳妥。",
                        "en": "Your situation involves several issues or ongoing proceedings, so a lawyer should answer."},
    "part_title": {"zh": "【问题{n}】{question}", "en": "[Question {n}] {question}"},
    "related": {"zh": "相关：{question}", "en": "Related: {question}"},
    "meanwhile": {"zh": "在律师接入之前，先为您提供一般性解答，供参考：",
                  "en": "While you wait for the lawyer, here is some general information:"},
    "suggest": {"zh": "我还不能确定您问的是哪一点。您是想问下面哪个问题？请点选：",
                "en": "I am not sure which point you are asking about. Did you mean one of these?"},
    "suggestion_gone": {"zh": "这个问题的解答已更新，请重新描述一下您的问题，或转接律师。",
                        "en": "That answer has been updated; please ask your question again, or talk to a lawyer."},
    "handoff_none_fit": {"zh": "抱歉，这些都不是您要问的。为避免给出不对的解答，将为您转接律师。",
                         "en": "Sorry none of those fit. So as not to give you a wrong answer, I will connect you to a "
                               "lawyer."},
    "handoff_no_entry": {"zh": "这个问题我暂时没有可靠的解答，为避免误导您，将为您转接律师。",
                         "en": "I do not have a reliable answer to this yet, so as not to mislead you I will connect you "
                               "to a lawyer."},
    "handoff_unclear": {"zh": "我没能准确理解您的问题，为避免给出错误解答，将为您转接律师。",
                        "en": "I could not understand your question well enough to answer safely, so I will connect "
                              "you to a lawyer."},
    # ---- danger (nlu/triage.py kinds): the first line names the number that helps with this kind ----
    "emergency_domestic_violence": {
        "zh": "⚠️ 正在遭受暴力请立即拨打110报警；妇女维权热线12338。\n能离开就先到安全的地方（亲友家、派出所）。"
              "公安机关可以对施暴人出具告诫书；您可以向法院申请人身安全保护令，情况紧急的法院应在24小时内作出"
              "（《反家庭暴力法》第十六条、第二十三条、第二十八条）。",
        "en": "⚠️ If you are being hurt, call the police on 110 now; women's hotline 12338.\nIf you can, go somewhere "
              "safe (family, friends, a police station). The police can issue a written warning to the abuser, and a "
              "court can grant a personal safety protection order, within 24 hours when urgent (Anti-Domestic "
              "Violence Law arts. 16, 23, 28)."},
    "emergency_threat_to_life": {
        "zh": "⚠️ 您正面临人身危险，请立即拨打110报警，尽量到人多、安全的地方，保存威胁的聊天记录和录音。",
        "en": "⚠️ Your life may be in danger: call the police on 110 now, get to a busy, safe place, and keep any "
              "threatening messages or recordings."},
    "emergency_self_harm": {
        "zh": "💛 谢谢您愿意说出来。请现在就拨打心理援助热线12356，有人会听您说；如果已经服药或受伤，请马上拨打120。"
              "\n欠债、官司、工资这些难处都有办法商量，不必一个人扛。",
        "en": "💛 Thank you for telling me. Please call the psychological assistance hotline 12356 now; someone will "
              "listen. If you have taken something or are hurt, call 120 at once.\nDebts, lawsuits and unpaid wages "
              "can be worked out; you do not have to carry this alone."},
    "emergency_child_in_danger": {
        "zh": "⚠️ 孩子正处于危险中，请立即拨打110报警；青少年求助热线12355。\n如果您就是孩子，请告诉一位信任的大人或老师，"
              "您没有做错什么。",
        "en": "⚠️ A child is in danger: call the police on 110 now; youth helpline 12355.\nIf you are the child, tell an "
              "adult or teacher you trust. It is not your fault."},
    "emergency_just_detained": {
        "zh": "⚖️ 家人被带走时，法律援助和咨询请拨打12348。\n今天可以做的：公安机关拘留后，除法律规定的例外情形，应当在24小时"
              "以内通知家属（《刑事诉讼法》第八十五条）；被第一次讯问或者被采取强制措施之日起就可以委托律师（第三十四条），"
              "经济困难的可以申请法律援助。",
        "en": "⚖️ When a relative has been taken by the police, call 12348 for legal aid and advice.\nWhat you can do "
              "today: after a detention the police must, with narrow exceptions, notify the family within 24 hours "
              "(Criminal Procedure Law art. 85); a lawyer can be instructed from the first interrogation or coercive "
              "measure (art. 34), and people without means can apply for legal aid."},
    "emergency_imminent_deadline": {
        "zh": "⏰ 期限很近，今天就先把文书递交上去：上诉状、仲裁申请书或答辩状写明请求和简要理由即可，证据和详细理由可以之后补充；"
              "请保留递交凭证（回执、快递单）。法律咨询可拨打12348。",
        "en": "⏰ Your deadline is close: file today. An appeal, arbitration application or defence only needs your "
              "request and short reasons; evidence and details can follow. Keep proof of filing (receipt, courier "
              "slip). For legal advice call 12348."},
    "emergency_wage_crowd": {
        "zh": "⚠️ 如果有人站在高处或发生冲突，请立即拨打110。请不要用堵路、爬高的方式讨薪，既危险也可能违法。"
              "\n欠薪可以拨打12333向劳动保障监察投诉，也可以申请劳动仲裁和法律援助（12348）。",
        "en": "⚠️ If anyone is on a roof or crane, or a fight starts, call 110 now. Please do not block roads or climb to "
              "demand wages: it is dangerous and may be unlawful.\nReport unpaid wages on 12333 (labour "
              "inspection) and ask for arbitration and legal aid (12348)."},
    "emergency_eviction_today": {
        "zh": "⚠️ 有人正在强行换锁、扔东西、断水断电或拆房，可以立即拨打110报警，请民警到场。"
              "\n拍照录像保存证据，不要动手；法律咨询可拨打12348。",
        "en": "⚠️ If someone is changing your locks, throwing out your things, cutting water or power or demolishing "
              "now, call 110 and ask the police to come.\nFilm and photograph everything, do not fight; for legal "
              "advice call 12348."},
    "emergency_injury_now": {
        "zh": "🚑 有人受伤请立即拨打120急救；交通事故请拨打122或110，肇事车辆离开请记下车牌。\n先救人，费用和责任之后再算。",
        "en": "🚑 Someone is hurt: call an ambulance on 120 now; for a road accident call 122 or 110 and note the plate "
              "of any vehicle that drives off.\nTreatment first; costs and liability can be settled later."},
    "emergency_elder_abuse": {
        "zh": "⚠️ 老人正在受到伤害或无人照管，请立即拨打110报警；也可以找村（居）委会上门。",
        "en": "⚠️ An older person is being hurt or left without care: call the police on 110 now; the neighbourhood or "
              "village committee can also visit."},
    "emergency_held_captive": {
        "zh": "⚠️ 被限制人身自由，请在保证安全的前提下立即拨打110报警，告诉警察您所在的位置和看到的标志。",
        "en": "⚠️ If you are held against your will, call the police on 110 as soon as it is safe, and tell them where "
              "you are and any landmarks you can see."},
    "emergency_stalking": {
        "zh": "⚠️ 如果对方正跟着您或说要上门，请立即拨打110，并到人多的地方；保存跟踪和威胁的照片、聊天记录。",
        "en": "⚠️ If someone is following you or says they are coming, call 110 now and go somewhere busy; keep "
              "photos and messages of the stalking and threats."},
    "emergency_extortion": {
        "zh": "⚠️ 请不要转账，立即拨打110报警；保存聊天记录、转账账号和对方的联系方式。",
        "en": "⚠️ Do not pay. Call the police on 110 now, and keep the messages, account numbers and contacts."},
    "emergency_learned": {
        "zh": "⚠️ 如果您或他人正处于危险中，请立即拨打110报警（医疗急救120）。",
        "en": "⚠️ If you or someone else is in danger, call 110 now (ambulance 120)."},
    "urgent_handoff": {"zh": "我已为您优先转接值班律师，您的咨询会第一个被处理，律师会尽快在这里回复您。",
                       "en": "You are first in line for the duty lawyer, who will reply here as soon as possible."},
    "urgent_still_waiting": {"zh": "您的消息已转给值班律师，您的咨询会第一个被处理。如有危险请立即拨打110。",
                             "en": "Your message was passed to the duty lawyer; your chat will be taken first. If "
                                   "you are in danger, call 110 now."},
    "urgent_out_of_hours": {"zh": "现在是律师非工作时间，值班律师上班后会首先处理您的咨询；等待期间请按上面的电话求助。",
                            "en": "Lawyers are off duty now; yours will be the first chat they take. Until then, "
                                  "please use the numbers above."},
    "safety_check": {"zh": "想先确认一下：您（或您说的人）现在安全吗？", "en": "First, to be sure: are you (or the person you "
                     "mention) safe right now?"},
    "btn_danger": {"zh": "我现在有危险", "en": "I am in danger now"},
    "btn_safe": {"zh": "我现在安全", "en": "I am safe now"},
    "safe_noted": {"zh": "好的，放心。我们接着说您的问题。", "en": "Good. Let's go on with your question."},
    "still_waiting": {"zh": "您的消息已转给律师。目前您前面还有 {ahead} 位，请稍候。",
                      "en": "Your message was passed to the lawyer. {ahead} ahead of you; please wait."},
    "lawyer_joined": {"zh": "{name}律师已接入，您可以直接在这里和律师交流。",
                      "en": "Lawyer {name} has joined; you can talk here now."},
    "btn_reopen": {"zh": "还是这件事，继续找律师", "en": "Same matter: back to a lawyer"},
    "reopen_too_late": {"zh": "上次的咨询已结束超过{days}天，不能再接着办理了。请直接说说您现在的问题，或点“转接律师”。",
                        "en": "Your last consultation ended more than {days} days ago and cannot be continued. Tell me "
                              "what you need now, or press \"Talk to a lawyer\"."},
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
    "btn_more": {"zh": "都不是，看看别的", "en": "None of these, show others"},
    "suggest_more": {"zh": "还可能是下面这些问题，请点选：", "en": "Perhaps one of these?"},
    "btn_none_fit": {"zh": "都不是", "en": "None of these"},
    "btn_other": {"zh": "都不是", "en": "None of these"},
    "btn_menu": {"zh": "菜单", "en": "Menu"},
    "btn_services": {"zh": "办事服务", "en": "Apply for a service (in Chinese)"},
    # ---- what a citizen can ask for besides a question (bot/actions.py) ----
    "help": {
        "zh": "请直接用文字说说您遇到的法律问题，我会给出一般性解答和法律依据；复杂或紧急的情况为您转接律师。\n\n"
              "{commands}\n\n"
              "发送位置可查询离您最近的公共法律服务中心。如遇人身危险，请先拨打110。",
        "en": "Just describe your legal problem in words: I give general information with its legal basis, and "
              "connect you to a lawyer for complex or urgent matters.\n\n{commands}\n\n"
              "Share your location to find the nearest public legal service centre. If you are in danger, call 110 "
              "first.",
    },
    "help_keywords": {
        "zh": "“菜单”：选择问题类别\n“转人工”：转接律师\n“English”：切换语言\n“隐私”：隐私说明\n"
              "“删除我的数据”：删除我的消息和个人信息\n“帮助”：本说明",
        "en": "\"menu\": pick a category\n\"lawyer\": talk to a lawyer\n\"中文\": switch language\n"
              "\"privacy\": privacy notice\n\"delete my data\": delete my messages and personal data\n\"help\": this help",
    },
    "privacy": {
        "zh": "隐私说明\n"
              "· 我们保存您发来的消息和助手的回复，只用于解答您的问题、转接律师和改进服务。\n"
              "· 只有在您被转接后，值班律师才会看到对话内容。\n"
              "· 您分享的位置只用来查找最近的服务中心，坐标不会被保存。\n"
              "· 请不要发送身份证号、银行卡号等敏感信息；日志中的这类号码会被遮盖。\n"
              "· 点下面的按钮或发送“删除我的数据”（Telegram：/delete_my_data）可删除您的全部消息和个人信息，"
              "只保留不含个人信息的统计数字。",
        "en": "Privacy notice\n"
              "· We store your messages and the assistant's replies only to answer you, connect you to a lawyer "
              "and improve the service.\n"
              "· A duty lawyer sees the conversation only after you have been handed over.\n"
              "· A location you share is used only to find the nearest service centre; it is not stored.\n"
              "· Please do not send ID or bank card numbers; such numbers are masked in our logs.\n"
              "· Press the button below or send \"delete my data\" (Telegram: /delete_my_data) to delete all your "
              "messages and personal data; only anonymous counts remain.",
    },
    "choose_language": {"zh": "请选择语言 / Please choose a language:", "en": "Please choose a language / 请选择语言:"},
    "language_set": {"zh": "已切换为中文。", "en": "Language set to English."},
    "confirm_delete": {
        "zh": "确定要删除您在本服务中的全部消息和个人信息吗？删除后无法恢复，正在进行的咨询和律师转接也会取消。",
        "en": "Delete all your messages and personal data from this service? This cannot be undone, and any "
              "open consultation or lawyer handoff is cancelled.",
    },
    "btn_delete": {"zh": "删除我的数据", "en": "Delete my data"},
    "btn_confirm_delete": {"zh": "确认删除", "en": "Delete my data"},
    "btn_keep": {"zh": "取消", "en": "Cancel"},
    "deleted": {
        "zh": "您的消息和个人信息已删除，只保留了不含个人信息的统计数字。如需再次咨询，直接发消息即可。",
        "en": "Your messages and personal data have been deleted; only anonymous counts remain. Write any time "
              "to start again.",
    },
    "nothing_to_delete": {"zh": "我们没有保存您的任何消息。", "en": "We hold no messages from you."},
    "delete_cancelled": {"zh": "好的，没有删除任何内容。", "en": "OK, nothing was deleted."},
    "nearest_centre": {
        "zh": "离您最近的公共法律服务中心：\n{name}\n地址：{address}\n电话：{phone}\n（直线距离约 {km:.1f} 公里）\n"
              "也可拨打12348公共法律服务热线。",
        "en": "The nearest public legal service centre:\n{name}\nAddress: {address}\nPhone: {phone}\n"
              "(about {km:.1f} km away)\nYou can also call the 12348 hotline.",
    },
    "centres": {"zh": "公共法律服务中心：\n{centres}\n\n发送您的位置，可查询离您最近的一处。也可拨打12348公共法律服务热线。",
                "en": "Public legal service centres:\n{centres}\n\nShare your location to find the nearest one. You "
                      "can also call the 12348 hotline."},
    "centre_line": {"zh": "· {name}：{address}，电话 {phone}", "en": "· {name}: {address}, phone {phone}"},
    "hours": {"zh": "律师在线时间：{hours}（{days}）。我（智能助手）全天在线；非工作时间转接的咨询，律师上班后会尽快回复。"
                    "需要马上咨询可拨打12348公共法律服务热线；紧急情况请拨打110。",
              "en": "Lawyers are on duty {hours} ({days}). I (the assistant) am here all day; a chat handed over out "
                    "of hours is answered as soon as a lawyer is back. For advice now call 12348; in an emergency "
                    "call 110."},
    "no_centre": {"zh": "抱歉，暂时查不到附近的公共法律服务中心。请拨打12348公共法律服务热线咨询。",
                  "en": "Sorry, I could not find a service centre near you. Please call the 12348 hotline."},
    # ---- the services menu (bot/actions.py): the same six entries on every channel ----
    "menu_consult": {"zh": "法律咨询", "en": "Legal advice"},
    "menu_legal_aid": {"zh": "法律援助", "en": "Legal aid"},
    "menu_mediation": {"zh": "人民调解", "en": "Mediation"},
    "menu_notary": {"zh": "公证", "en": "Notarization"},
    "menu_guide": {"zh": "办事指南", "en": "Service guide"},
    "menu_mine": {"zh": "我的咨询", "en": "My consultations"},
    "menu_consult_intro": {
        "zh": "请用一两句话说说您遇到的法律问题，例如“公司拖欠工资三个月怎么办”。我会给出一般性解答和法律依据，"
              "复杂或紧急的情况为您转接律师。也可以先选一个类别：",
        "en": "Describe your legal problem in a sentence or two, e.g. \"My employer hasn't paid me for three "
              "months.\" I give general information with its legal basis, and connect you to a lawyer for complex "
              "or urgent matters. Or pick a category first:"},
    "menu_about_legal_aid": {
        "zh": "法律援助是国家为经济困难公民和符合法定条件的其他当事人无偿提供法律咨询、代理、刑事辩护等法律服务的制度"
              "（《法律援助法》第二条）。\n可以在这里在线申请，提交后会告诉您受理编号和办理进度；也可以先看看常见问题，"
              "或拨打12348咨询。",
        "en": "Legal aid is free legal advice, representation and criminal defence for people with financial "
              "difficulties and others the law names (Legal Aid Law art. 2).\nYou can apply here (the form is in "
              "Chinese) and follow its progress, read the common questions first, or call 12348."},
    "menu_about_mediation": {
        "zh": "人民调解由人民调解委员会帮助双方在平等协商的基础上自愿达成调解协议，适合邻里、婚姻家庭、物业等民间纠纷；"
              "人民调解不收取任何费用（《人民调解法》第二条、第四条）。\n可以在这里在线申请，调解员会联系您和对方。",
        "en": "In people's mediation a mediation committee helps both sides reach a voluntary agreement; it suits "
              "disputes between neighbours, in the family, with property management and the like, and it is free "
              "(People's Mediation Law arts. 2, 4).\nYou can apply here (the form is in Chinese); a mediator will "
              "contact you and the other side."},
    "menu_about_notarization": {
        "zh": "公证处可以办理委托书、声明书、继承、遗嘱、赠与、学历学位、亲属关系等公证。\n可以在这里预约公证处，"
              "公证处会确认时间并告诉您要带的材料。",
        "en": "A notary office certifies powers of attorney, declarations, inheritance, wills, gifts, degrees, "
              "family relationships and more.\nYou can book a notary office here (the form is in Chinese); it "
              "confirms the time and tells you what to bring."},
    "menu_guide_text": {
        "zh": "办事指南\n"
              "· 法律咨询：直接在这里用文字描述问题，或拨打12348公共法律服务热线。\n"
              "· 法律援助：点“法律援助”在线申请，七日内作出决定。\n"
              "· 人民调解：点“人民调解”在线申请，不收费。\n"
              "· 公证：点“公证”预约公证处。\n"
              "· 其他服务（{others}）：点“全部服务”。\n"
              "· 申请的进度和以前的咨询：点“我的咨询”。\n"
              "· 到服务点当面办理：点“找服务点”，或发送您的位置。",
        "en": "Service guide\n"
              "· Legal advice: describe your problem here in words, or call the 12348 hotline.\n"
              "· Legal aid: press \"Legal aid\" to apply online; the decision comes within seven days.\n"
              "· Mediation: press \"Mediation\" to apply online; it is free.\n"
              "· Notarization: press \"Notarization\" to book a notary office.\n"
              "· Other services ({others}): press \"All services\" (in Chinese).\n"
              "· Your applications and earlier consultations: press \"My consultations\".\n"
              "· In person: press \"Service centres\", or share your location."},
    "btn_apply": {"zh": "现在申请：{title}", "en": "Apply now (in Chinese): {title}"},
    "btn_all_services": {"zh": "全部服务", "en": "All services"},
    "btn_centres": {"zh": "找服务点", "en": "Service centres"},
    "btn_progress": {"zh": "查询申请进度", "en": "Application progress"},
    "mine_title": {"zh": "您的咨询记录（最近的在前）：", "en": "Your consultations (newest first):"},
    "mine_line": {"zh": "· {date}，{subject}，{outcome}：“{question}”", "en": "· {date}, {subject}, {outcome}: \"{question}\""},
    "mine_no_question": {"zh": "转接律师", "en": "asked for a lawyer"},
    "mine_none_yet": {"zh": "您的咨询记录：暂无。", "en": "Your consultations: none yet."},
    "mine_applications": {"zh": "您的申请：", "en": "Your applications:"},
    "mine_application": {"zh": "· {reference} {title}，{status}（{date}提交）",
                         "en": "· {reference} {title}: {status} (submitted {date})"},
    "mine_empty": {"zh": "暂无记录。有法律问题可以直接在这里描述，或点“法律咨询”；想了解能办哪些事，点“办事指南”。",
                   "en": "Nothing yet. Describe your legal problem here, or press \"Legal advice\"; to see what you "
                         "can apply for, press \"Service guide\"."},
    "mine_answered": {"zh": "已解答", "en": "answered"},
    "mine_resolved_by_lawyer": {"zh": "律师已处理", "en": "handled by a lawyer"},
    "mine_referred": {"zh": "已转介", "en": "referred"},
    "mine_emergency_referred": {"zh": "已转介紧急求助", "en": "referred to emergency help"},
    "mine_out_of_scope": {"zh": "不在服务范围", "en": "outside our services"},
    "mine_abandoned": {"zh": "未完成", "en": "not finished"},
    "mine_withdrawn": {"zh": "已取消", "en": "cancelled"},
    "mine_waiting": {"zh": "等待律师", "en": "waiting for a lawyer"},
    "mine_with_lawyer": {"zh": "律师处理中", "en": "with a lawyer"},
    "mine_open": {"zh": "进行中", "en": "in progress"},
    # ---- how channels without buttons show them (WeChat) ----
    "menu_line": {"zh": "回复 {n} {label}", "en": "Reply {n}: {label}"},
    "lawyer_prefix": {"zh": "【律师】", "en": "[Lawyer] "},
}

#: The command menu a messenger shows (Telegram's setMyCommands), per language of the citizen's app.
#: The services menu's entries come first (bot/actions.py maps each command to its payload).
COMMAND_MENU: dict[str, list[tuple[str, str]]] = {
    "zh": [("start", "开始，选择问题类别"), ("consult", "法律咨询：说说您的问题"), ("legal_aid", "法律援助：了解和申请"),
           ("mediation", "人民调解：了解和申请"), ("notary", "公证：了解和预约"), ("guide", "办事指南"),
           ("mine", "我的咨询：以前的咨询和申请进度"), ("lawyer", "转接律师"),
           ("language", "切换语言 / Switch language"), ("privacy", "隐私说明"),
           ("delete_my_data", "删除我的消息和个人信息"), ("help", "帮助")],
    "en": [("start", "Start and pick a category"), ("consult", "Legal advice: describe your problem"),
           ("legal_aid", "Legal aid: about it and applying"), ("mediation", "Mediation: about it and applying"),
           ("notary", "Notarization: about it and booking"), ("guide", "Service guide"),
           ("mine", "My consultations and applications"), ("lawyer", "Talk to a lawyer"),
           ("language", "Switch language / 切换语言"), ("privacy", "Privacy notice"),
           ("delete_my_data", "Delete my messages and personal data"), ("help", "Help")],
}


def t(key: str, lang: str = "zh", **kwargs: object) -> str:
    texts = TEXTS[key]
    template = texts.get(lang) or texts["zh"]
    return template.format(**kwargs) if kwargs else template
