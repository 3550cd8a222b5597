"""A seeded, generated chat corpus: half Chinese (with English mixed in), half
English, with a few Japanese, Korean and emoji messages — for the benchmarks
(search/bench.py), never for the server."""

from __future__ import annotations

import random

__all__ = ["ZH_WORDS", "EN_WORDS", "messages"]

ZH_WORDS = (
    "我们 明天 提交 报销单 报销 发票 会议 项目 进度 客户 合同 审批 预算 采购 部门 经理 同事 周报 "
    "季度 目标 销售 数据 分析 报告 系统 上线 测试 需求 设计 开发 服务器 数据库 接口 文档 版本 发布 "
    "问题 修复 紧急 通知 放假 安排 培训 招聘 面试 入职 离职 工资 考勤 请假 出差 机票 酒店 会议室 "
    "预订 下午 上午 晚上 今天 昨天 下周 周一 周五 春节 中秋 国庆 北京 上海 深圳 广州 杭州 成都 "
    "产品 用户 体验 反馈 投诉 退款 订单 物流 快递 仓库 库存 价格 优惠 活动 营销 渠道 合作 伙伴 "
    "董事会 股东 财务 税务 法务 合规 审计 风险 安全 隐私 权限 账号 密码 登录 验证码 手机 邮箱 "
    "谢谢 收到 好的 没问题 辛苦了 请确认 麻烦 尽快 回复 已经 完成 正在 处理 稍等 马上 可以 不行 "
    "微信 企业微信 群聊 消息 文件 图片 视频 语音 链接 二维码 小程序 公众号 朋友圈 客服 售后"
).split()
EN_WORDS = (
    "the meeting report budget invoice deadline review release server database client contract "
    "approval project status update please check tomorrow today morning afternoon team manager "
    "customer order refund shipping warehouse price discount campaign partner board audit risk "
    "security privacy password login account phone email thanks received done working fixing "
    "urgent notice holiday training interview salary leave travel flight hotel room booking "
    "sales data analysis design develop test deploy version document issue bug feature branch "
    "merge commit PR API latency dashboard metrics alert oncall incident postmortem roadmap OKR"
).split()
JA = ("東京タワーに行きます", "会議は明日の午後です", "よろしくお願いします", "カタカナのテスト")
KO = ("회의는 내일입니다", "감사합니다", "보고서를 제출했습니다", "프로젝트 진행 상황")
EMOJI = ("🚀", "🎉", "👍", "🙏", "😂", "✅")


def _zh(rng: random.Random) -> str:
    words = rng.choices(ZH_WORDS, k=rng.randint(3, 12))
    if rng.random() < 0.4:  # code-switching, as Chinese office chat does
        words.insert(rng.randrange(len(words) + 1), rng.choice(EN_WORDS))
    joiner = "" if rng.random() < 0.7 else "，"
    return joiner.join(words) + rng.choice(("", "。", "！", "？"))


def _en(rng: random.Random) -> str:
    text = " ".join(rng.choices(EN_WORDS, k=rng.randint(4, 16)))
    return text.capitalize() + rng.choice(("", ".", "!", "?"))


def messages(count: int, seed: int = 21) -> list[str]:
    """`count` message texts, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.5:
            text = _zh(rng)
        elif roll < 0.95:
            text = _en(rng)
        else:
            text = rng.choice(JA + KO)
        if rng.random() < 0.05:
            text += " " + rng.choice(EMOJI)
        out.append(text)
    return out
